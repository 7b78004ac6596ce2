import { OutlastError } from '../errors.js';
import { utf8Length } from '../wire/utf8.js';
/** The three ways to read an outlast stream, in the protocol's names. */
export type TransportName = 'sse' | 'ws' | 'poll';

/** What a connection announced when it opened (`outlast.open`, or an SSE response's headers). */
export interface OpenInfo {
  /** Heartbeat interval the server promised, ms; `null` for a plain SSE server (none known). */
  heartbeatMs: number | null;
  /** When the server rotates this connection, ms; `null`: no rotation. */
  maxStreamMs: number | null;
  /** Resume outcome (`fresh`, `recovered`, `gap`); `null` for a plain SSE server. */
  resume: string | null;
}

/** A gap notice: the requested id is no longer retained (docs/protocol.md, "Event ids"). */
export interface GapInfo {
  requested: string | null;
  resumeFrom: string | null;
  reason: string;
}

/** One event as a transport read it. */
export interface WireEvent {
  /** The event's own id; `undefined` when it had none (plain SSE servers). */
  id: string | undefined;
  /** [spec] The last event id after this event (SSE keeps the previous one without `id:`). */
  lastEventId: string;
  /** Event type (`message` by default). */
  type: string;
  /** The data string. */
  data: string;
}

/** How a transport's connection ended when nobody asked it to. */
export interface CloseInfo {
  /**
   * `status`: a non-200 answer before any stream (with `status`); `network`: the request or
   * socket failed (refused, reset); `eof`: the stream ended without an end or rotate notice;
   * `refused`: the transport could not open at all (a WebSocket upgrade refused);
   * `limit`: a line or an event exceeded `maxLineBytes` / `maxEventBytes` (`code` says which);
   * `content-type`: a 200 that is not `text/event-stream`; `server-error`: an error frame.
   */
  kind: 'status' | 'network' | 'eof' | 'refused' | 'content-type' | 'server-error' | 'limit';
  /** HTTP status of the failed response, when there was one. */
  status?: number;
  /** Its `server` header (names the intermediary that answered: `cloudflare`, `envoy`...). */
  server?: string | null;
  /** Seconds from a `Retry-After` header. */
  retryAfterS?: number | null;
  /** The error code from a JSON error body (`{"error":{"code"}}`) or an error frame. */
  code?: string | null;
  /** A short description for reports and errors. */
  message?: string;
  /** `eof` only: the body ended normally (not a cut chunked encoding, not a reset). */
  clean?: boolean;
  /** Set when this close ends the client for good with this error (no reconnect). */
  fatal?: OutlastError;
}

/**
 * Everything a transport tells the connection. Calls after {@link Transport.close} or after a
 * newer transport started are ignored by the caller (generation counter), so a transport
 * never needs to guard against its own late callbacks.
 */
export interface TransportHandlers {
  /** Response headers are in (SSE, poll) or the socket opened (WebSocket). */
  headers(info: { heartbeatMs: number | null; maxStreamMs: number | null; outlast: boolean }): void;
  /** The stream opened (the `open` notice, or the first bytes of a plain SSE stream). */
  open(info: OpenInfo): void;
  /** Any bytes or frame arrived: the connection is alive. */
  bytes(count: number): void;
  /** A heartbeat arrived, with the server's clock when it carried one. */
  heartbeat(serverMs: number | null): void;
  /**
   * A comment line (SSE), or a heartbeat frame rendered as its SSE comment (`hb {ms}`), for
   * the `comment` listener. Optional: a transport need not call it.
   */
  comment?(text: string): void;
  /** An SSE `retry:` hint, ms. */
  retry(ms: number): void;
  event(event: WireEvent): void;
  gap(gap: GapInfo): void;
  /** The server is rotating this connection: reconnect at once. */
  rotate(): void;
  /** The stream has ended (after its final event). */
  end(): void;
  /** The connection died (see {@link CloseInfo}); not called after `end`, `rotate` or `close()`. */
  closed(info: CloseInfo): void;
}

/** The structural `fetch` the client needs (the platform's by default). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * An event handler property the client assigns. Written as a method type so its parameter is
 * compared both ways: `ws`'s handlers take its richer `MessageEvent`/`CloseEvent` (with `type`,
 * `target`, `wasClean`), browsers' take the DOM events, and both fit without a cast.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'] | null;

/**
 * The structural `WebSocket` constructor the client needs: browsers', Node 22's, or `ws`'s
 * (`import WebSocket from 'ws'` is passed as is).
 */
export type WebSocketLike = new (
  url: string,
  protocols?: string | string[],
  // `ws` reads a third argument (headers); browsers ignore it.
  options?: { headers?: Record<string, string> },
) => {
  readonly readyState: number;
  onopen: Handler<unknown>;
  onmessage: Handler<{ data: unknown }>;
  onerror: Handler<unknown>;
  onclose: Handler<{ code: number; reason: string }>;
  close(code?: number, reason?: string): void;
};

/** What one connection attempt needs. */
export interface TransportContext {
  /** The stream URL with the query this attempt asks for (resume, heartbeat, maxStream...). */
  url: string;
  /** Request headers (the user's, plus `Last-Event-ID` for SSE). */
  headers: Record<string, string>;
  /** The id to resume after, or `null`. */
  lastEventId: string | null;
  /** Longest SSE line, bytes of UTF-8 (`maxLineBytes`). */
  maxLineBytes: number;
  /** Largest event data, bytes of UTF-8, on every transport (`maxEventBytes`). */
  maxEventBytes: number;
  /** SSE: the request method (a POST stream); `GET` when absent. */
  method?: 'GET' | 'POST';
  /** SSE: the POST body. */
  body?: string;
  /** Long-polling: how long each poll may be held, ms. */
  pollWaitMs: number;
  /** Long-polling: the id to resume after at each poll (moves as events arrive). */
  currentLastEventId(): string | null;
  /**
   * Long-polling: the connection's pace, shared by every poll transport it opens. A poll
   * answered empty early sets `notBefore`; the next poll waits for it even when it is the
   * first of a new transport (a reconnect must not skip the pause).
   */
  pollPace?: PollPace;
  fetch: FetchLike;
  WebSocket: WebSocketLike | null;
}

/** When the next long-poll may be sent (Unix ms); see {@link TransportContext.pollPace}. */
export interface PollPace {
  notBefore: number;
}

/** Shortest time between two polls when the first came back empty, ms. */
const MIN_EMPTY_POLL_MS = 100;

/**
 * How long a long-poll answered empty sooner than its hold waits before the next one, ms (at
 * least 100 ms, at most 1 s, else the hold): no answer, however odd, makes polling spin.
 */
export function emptyPollPauseMs(pollWaitMs: number): number {
  return Math.max(MIN_EMPTY_POLL_MS, Math.min(1_000, pollWaitMs));
}

/**
 * The one interface every transport implements. A transport reads one stream over one
 * connection (a series of polls for long-polling) and reports through its handlers; the
 * connection decides everything else (resume, reconnect, fallback, learning).
 */
export interface Transport {
  readonly name: TransportName;
  /** Stops at once; no handler is called afterwards. Idempotent. */
  close(): void;
}

/** Opens a transport. */
export type TransportFactory = (
  context: TransportContext,
  handlers: TransportHandlers,
) => Transport;

/** Reads `{"error":{"code","message"}}` from an error body, if it is one. */
export function errorCode(body: string): string | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

/** `Retry-After` in seconds (delta form only; an HTTP date is ignored). */
export function retryAfterSeconds(value: string | null): number | null {
  if (value === null || !/^\d{1,6}$/.test(value.trim())) return null;
  return Number(value.trim());
}

/** A non-200 response as a {@link CloseInfo}, reading at most 4 KiB of its body. */
export async function statusClose(res: Response): Promise<CloseInfo> {
  let body = '';
  try {
    body = (await res.text()).slice(0, 4096);
  } catch {
    // The body is only read for its error code.
  }
  return {
    kind: 'status',
    status: res.status,
    server: res.headers.get('server'),
    retryAfterS: retryAfterSeconds(res.headers.get('retry-after')),
    code: errorCode(body),
    message: `HTTP ${res.status}${res.headers.get('server') ? ` from ${res.headers.get('server')}` : ''}`,
  };
}

/** An integer header value, or `null`. */
export function intHeader(res: Response, name: string): number | null {
  const v = res.headers.get(name);
  return v !== null && /^\d{1,12}$/.test(v) ? Number(v) : null;
}

/** The `limit` close for an event whose data is larger than `maxEventBytes`, or `null`. */
export function eventTooLarge(data: string, maxEventBytes: number): CloseInfo | null {
  // Cheap bound first: a UTF-16 unit is at most 3 bytes of UTF-8.
  if (data.length * 3 <= maxEventBytes || utf8Length(data) <= maxEventBytes) return null;
  const message = `an event's data is larger than maxEventBytes (${maxEventBytes} bytes)`;
  return {
    kind: 'limit',
    code: 'max-event-bytes-exceeded',
    message,
    fatal: new OutlastError('max-event-bytes-exceeded', message),
  };
}
