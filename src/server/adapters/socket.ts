/**
 * The WebSocket transport, runtime-neutral. A runtime binding (Node `ws`, Bun, Deno, Workers)
 * does three things: admits the upgrade request with {@link admitUpgrade}, upgrades it its own
 * way, and fills a {@link SocketPort} (send, close, buffered bytes) whose message and close
 * events it forwards to the {@link SocketEvents} that {@link openSocket} returns.
 */
import type { EndReason } from '../../metrics/types.js';
import type { GapInfo, StoredEvent } from '../../store/types.js';
import type { ServerCore } from '../core.js';
import { fetchIncoming } from '../fetch.js';
import {
  type OpenInfo,
  WS_END,
  WS_ROTATE,
  wsError,
  wsEvent,
  wsGap,
  wsHeartbeat,
  wsOpen,
} from '../frames.js';
import {
  corsHeaders,
  errorReply,
  type Incoming,
  type Reply,
  upgradeOrigin,
  withoutCredentials,
} from '../http.js';
import type { Outlast } from '../outlast.js';
import { parseStreamQuery, type StreamParams } from '../query.js';
import { routeSegments } from '../routes.js';
import { Session, type Transport } from '../session.js';

/** One accepted WebSocket as a runtime binding exposes it to the transport. */
export interface SocketPort {
  /** True while frames can be sent. */
  readonly isOpen: boolean;
  /** Sends one text frame (the bytes are UTF-8 JSON). Called only while open. */
  send(frame: string | Uint8Array): void;
  /** Closes with a code and reason (a no-op when already closing). */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a close handshake (a client too slow to read). */
  terminate(): void;
  /** Bytes sent but not yet taken by the client's socket (0 when the runtime cannot tell). */
  buffered(): number;
}

/** What a binding forwards from its socket. */
export interface SocketEvents {
  /** A frame from the client. */
  message(data: string | ArrayBuffer | Uint8Array, isBinary: boolean): void;
  /** The socket closed or failed (either way it is gone). */
  close(): void;
}

/** An upgrade request the server accepted: the socket it becomes belongs to this stream. */
export interface Admission {
  readonly streamId: string;
  readonly params: StreamParams;
  /** Frees the connection slot; the binding calls it when the upgrade does not complete. */
  readonly release: () => void;
  /** When the upgrade request arrived (monotonic ms): rotation counts from here. */
  readonly arrivedAt: number;
}

/** The server core behind an {@link Outlast} (the bindings' way in). */
export function coreOf(outlast: Outlast): ServerCore {
  return (outlast as unknown as { core: ServerCore }).core;
}

/** JSON frames over a {@link SocketPort} (docs/protocol.md, "WebSocket"). */
export class WsTransport implements Transport {
  readonly name = 'ws' as const;

  constructor(private readonly port: SocketPort) {}

  private send(frame: string | Uint8Array): void {
    if (this.port.isOpen) this.port.send(frame);
  }

  open(info: OpenInfo): void {
    this.send(wsOpen(info));
  }

  gap(gap: GapInfo): void {
    this.send(wsGap(gap));
  }

  event(event: StoredEvent): void {
    this.send(wsEvent(event));
  }

  heartbeat(now: number): void {
    this.send(wsHeartbeat(now));
  }

  rotate(): void {
    this.send(WS_ROTATE);
    this.port.close(1000, 'rotate');
  }

  end(): void {
    this.send(WS_END);
    this.port.close(1000, 'end');
  }

  abort(reason: EndReason): void {
    if (reason === 'backpressure') this.port.terminate();
    else if (reason === 'shutdown') this.port.close(1001, 'server shutting down');
    else {
      this.send(
        wsError(
          'unknown-stream',
          'the stream was lost (evicted or its store restarted); reconnect with your last id',
        ),
      );
      this.port.close(1011, 'stream lost; reconnect to resume');
    }
  }

  buffered(): number {
    return this.port.buffered();
  }

  drain(): Promise<void> {
    // No runtime has a portable drain event for WebSocket; catch-up is the only caller.
    return new Promise((resolve) => {
      const check = () => {
        if (!this.port.isOpen || this.port.buffered() === 0) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
  }
}

const decoder = new TextDecoder();

/** A client frame's text, or `null` for binary frames. */
function frameText(data: string | ArrayBuffer | Uint8Array, isBinary: boolean): string | null {
  if (isBinary) return null;
  return typeof data === 'string' ? data : decoder.decode(data);
}

/** A client frame, or `null` when it is not `{"type":"resume","lastEventId":string|null}`. */
function parseResume(text: string | null): { lastEventId: string | null } | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as { type?: unknown; lastEventId?: unknown };
    if (value === null || typeof value !== 'object' || value.type !== 'resume') return null;
    const id = value.lastEventId;
    if (id !== null && typeof id !== 'string') return null;
    return { lastEventId: id === '' ? null : id };
  } catch {
    return null;
  }
}

/**
 * Decides an upgrade request: `null` when it is outside the base path (leave it to others),
 * a refusal to answer with instead of upgrading (CORS headers included), or an
 * {@link Admission} holding a connection slot.
 */
export async function admitUpgrade(
  core: ServerCore,
  inc: Incoming,
): Promise<Reply | Admission | null> {
  const reply = await admit(core, inc);
  if (reply !== null && 'status' in reply) {
    Object.assign(reply.headers, corsHeaders(core.o.cors, inc.header('origin'), false));
  }
  return reply;
}

async function admit(core: ServerCore, inc: Incoming): Promise<Reply | Admission | null> {
  const url = inc.url;
  const parts = routeSegments(core.o.basePath, url.pathname);
  if (parts === null) return null;
  const isStream =
    parts !== 'bad' &&
    ((parts.length === 2 && parts[0] === 'streams') ||
      (parts.length === 3 && parts[0] === 'jobs' && parts[2] === 'events'));
  if (!isStream || parts[1] === undefined || parts[1] === '') {
    return errorReply(404, 'unknown-route', `no WebSocket route at ${url.pathname}`);
  }
  const streamId = parts[1];
  const params = parseStreamQuery(url.searchParams, core.o);
  if (typeof params === 'string') return errorReply(400, 'bad-query', params);
  if (params.transport !== null && params.transport !== 'ws') {
    return errorReply(
      400,
      'bad-query',
      `an upgrade request reads with transport=ws, not ${params.transport}`,
    );
  }
  // Browsers enforce no CORS on WebSocket: the origin is checked here, on every upgrade.
  const origin = upgradeOrigin(core.o.cors, inc.header('origin'), inc.header('host'));
  if (origin === 'refused') {
    core.metrics.rejected('forbidden');
    return errorReply(403, 'forbidden', 'this origin may not open a WebSocket here (cors.origin)');
  }
  const asked = origin === 'anonymous' ? withoutCredentials(inc) : inc;
  const allowed = await core.authorizeAs(asked, streamId, 'read');
  if ('status' in allowed) return allowed;
  if (inc.signal.aborted) return clientGone();
  if ((await core.store.info(streamId)) === null) {
    return errorReply(404, 'unknown-stream', 'no such stream (it may have ended and expired)');
  }
  // Gone during authorize or the store read: take nothing.
  if (inc.signal.aborted) return clientGone();
  const release = core.acquire(streamId, 'ws', core.ownerOf(asked, allowed.identity));
  if (typeof release !== 'function') return release;
  // A WebSocket rotates only when the client asks (`maxStream` in its query): upgraded
  // connections escape most total-duration clocks (the Service Connect incident), so the server-wide
  // `maxStreamMs`, meant for SSE, is not applied to them.
  if (!url.searchParams.has('maxStream')) params.maxStreamMs = null;
  return { streamId, params, release, arrivedAt: inc.arrivedAt };
}

/** The refusal for a client that left while its upgrade was decided (nobody reads it). */
export function clientGone(): Reply {
  return errorReply(499, 'client-closed', 'the client went away');
}

/**
 * Starts the session of an accepted socket. The binding forwards its socket's message and
 * close events to the returned handlers.
 */
export function openSocket(core: ServerCore, admission: Admission, port: SocketPort): SocketEvents {
  const { streamId, params, release } = admission;
  const session = new Session(
    core,
    new WsTransport(port),
    streamId,
    params.heartbeatMs,
    params.maxStreamMs,
    admission.arrivedAt,
  );
  core.track(session, release);
  core.metrics.connectionOpened('ws');
  let started = false;
  const violate = (reason: string) => {
    if (port.isOpen) port.send(wsError('bad-frame', reason));
    port.close(1008, reason);
    session.close('error');
  };
  const begin = (lastEventId: string | null) => {
    started = true;
    void session.start(lastEventId);
  };
  let hello: ReturnType<typeof setTimeout> | undefined;
  if (params.lastEventId !== undefined) {
    begin(params.lastEventId === '' ? null : params.lastEventId);
  } else {
    hello = setTimeout(
      () => violate(`no resume frame within ${core.o.wsHelloTimeoutMs} ms`),
      core.o.wsHelloTimeoutMs,
    );
  }
  return {
    message(data, isBinary) {
      if (session.isClosed) return;
      const text = frameText(data, isBinary);
      if (text !== null && text.length > core.o.maxWsFrameBytes) {
        violate(`frames are limited to ${core.o.maxWsFrameBytes} bytes (maxWsFrameBytes)`);
        return;
      }
      const frame = parseResume(text);
      if (frame === null) {
        violate('expected {"type":"resume","lastEventId":string|null}');
        return;
      }
      if (started) return; // a repeated resume frame changes nothing
      clearTimeout(hello);
      begin(frame.lastEventId);
    },
    close() {
      clearTimeout(hello);
      session.clientClosed();
    },
  };
}

/*
 * Standard (WHATWG) WebSocket objects: Deno's `Deno.upgradeWebSocket` socket and the server
 * half of a Workers `WebSocketPair`.
 */

/** Frames shared by every subscriber are decoded once, not once per socket. */
const texts = new WeakMap<Uint8Array, string>();

/** A frame as a string, for runtimes whose `send(bytes)` sends a binary frame. */
export function asText(frame: string | Uint8Array): string {
  if (typeof frame === 'string') return frame;
  let text = texts.get(frame);
  if (text === undefined) {
    text = decoder.decode(frame);
    texts.set(frame, text);
  }
  return text;
}

/** The subset of the WHATWG `WebSocket` the transport uses. */
export interface StandardWebSocket {
  readonly readyState: number;
  readonly bufferedAmount?: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'open' | 'close' | 'error', listener: () => void): void;
}

const OPEN = 1;

/** A {@link SocketPort} over a standard `WebSocket` (text frames always sent as strings). */
export function standardPort(ws: StandardWebSocket): SocketPort {
  return {
    get isOpen() {
      return ws.readyState === OPEN;
    },
    send: (frame) => ws.send(asText(frame)),
    close(code, reason) {
      try {
        ws.close(code, reason);
      } catch {
        // already closed
      }
    },
    // The standard API has no abort; a 1011 close is the closest it offers.
    terminate() {
      try {
        ws.close(1011, 'client too slow');
      } catch {
        // already closed
      }
    },
    buffered: () => ws.bufferedAmount ?? 0,
  };
}

const CONNECTING = 0;

/**
 * Runs an admitted stream over a standard `WebSocket` that is open or still opening (Deno's
 * socket opens after its 101 response is sent): the session starts once it is open. A socket
 * that never opens (the client left before the 101: Deno then fires no event at all, and the
 * request's signal aborts once the 101 is sent, either way) frees its connection slot after
 * `wsHelloTimeoutMs`.
 */
export function serveStandardSocket(
  core: ServerCore,
  admission: Admission,
  ws: StandardWebSocket,
): void {
  let events: SocketEvents | undefined;
  let closed = false;
  let opening: ReturnType<typeof setTimeout> | undefined;
  const start = () => {
    clearTimeout(opening);
    if (closed || events !== undefined) return;
    events = openSocket(core, admission, standardPort(ws));
  };
  ws.addEventListener('message', (event) => {
    if (events === undefined) return;
    const data = event.data;
    if (typeof data === 'string') events.message(data, false);
    else if (data instanceof ArrayBuffer || data instanceof Uint8Array) events.message(data, true);
    else events.message('', true);
  });
  const gone = () => {
    clearTimeout(opening);
    if (closed) return;
    closed = true;
    if (events === undefined) admission.release();
    else events.close();
  };
  ws.addEventListener('close', gone);
  ws.addEventListener('error', gone);
  if (ws.readyState === CONNECTING) {
    ws.addEventListener('open', start);
    const abandon = () => {
      if (events !== undefined || closed) return;
      gone();
      standardPort(ws).close(1001, 'the upgrade did not complete');
    };
    opening = setTimeout(abandon, core.o.wsHelloTimeoutMs);
  } else if (ws.readyState === OPEN) start();
  else gone();
}

/**
 * The upgrade half of a fetch-style binding: `null` for requests outside the base path,
 * the refusal as a `Response`, or what `accept` answers for an admitted request (the binding
 * upgrades there and runs the socket). `accept` throwing frees the slot.
 */
export async function upgradeFetch(
  core: ServerCore,
  request: Request,
  accept: (admission: Admission) => Response | undefined,
  peer: string | null = null,
): Promise<Response | undefined | null> {
  const result = await admitUpgrade(core, fetchIncoming(request, core.monotonicNow(), peer));
  if (result === null) return null;
  if ('status' in result) return replyResponse(result);
  try {
    return accept(result);
  } catch (error) {
    result.release();
    throw error;
  }
}

/** True when `request` is outside the server's base path (the binding's fallback serves it). */
export function outsideBase(core: ServerCore, request: Request): boolean {
  return routeSegments(core.o.basePath, new URL(request.url).pathname) === null;
}

/** True for a request asking to upgrade to WebSocket. */
export function isUpgradeRequest(request: Request): boolean {
  return request.headers.get('upgrade')?.toLowerCase() === 'websocket';
}

/** A refusal as a fetch `Response`. */
export function replyResponse(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}
