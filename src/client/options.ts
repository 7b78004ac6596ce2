import { parserDefaults } from '../wire/parser.js';
import type { PageLifecycle } from './lifecycle.js';
import type { ProfileStore } from './profile.js';
import type { FetchLike, TransportName, WebSocketLike } from './transport.js';
import type { UnauthorizedInfo } from './transports/request.js';

/** Timers and clock, injectable for tests with a fake clock. */
export interface Clock {
  /** Milliseconds, monotonic enough for durations (Unix ms by default). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The platform's timers and `Date.now`. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Options of `connect()`. Every field is optional; defaults are in {@link clientDefaults}. */
export interface ConnectOptions {
  /**
   * Request headers sent on every request (SSE, long-polling, the job POST, result GETs,
   * reports, and WebSocket handshakes where the runtime allows it: `ws` in Node; browsers
   * cannot). A function is called for every connection and request (and may be async), so a
   * refreshed token goes out on the next one.
   * @default {}
   */
  headers?:
    | Record<string, string>
    | (() => Record<string, string> | Promise<Record<string, string>>);
  /**
   * Called when a request is answered 401 (stream, job POST, result GET). Refresh the
   * credentials here (the `headers` function then returns them): once it settles, that request
   * is tried once more; a second 401, a throw, or `false` makes `unauthorized` fatal.
   * @default none (a 401 is fatal at once)
   */
  onUnauthorized?: (info: UnauthorizedInfo) => unknown;
  /**
   * `POST`: the stream is the response to a POST of `body` (LLM APIs:
   * `/v1/chat/completions` with `stream: true`, `/v1/responses`). Such a stream is read over
   * SSE only, as a plain SSE client, and ends when its response ends.
   * @default 'GET' (or the job POST when `body` is given without `method`)
   */
  method?: 'GET' | 'POST';
  /**
   * The request body: the input of an outlast job, or the body of a POST stream (JSON unless
   * it is a string).
   * @default undefined
   */
  body?: unknown;
  /**
   * Whether `url` is an outlast job route (`{base}/jobs/{name}`): the client POSTs `body`,
   * then follows the stream the `202` names and fetches the job's result if it misses the
   * final event. With `method: 'POST'` and `job` unset, a `202` job start is followed the same
   * way; `false`: such an answer is an `unexpected-response` error.
   * @default true when `body` is given without `method`, else false
   */
  job?: boolean;
  /**
   * Re-send a POST stream's request after a cut (with `Last-Event-ID` once an id came, for
   * servers that resume). Off by default: a POST is not idempotent, and re-sending it may run
   * (and bill) the request twice.
   * @default false (a cut POST stream fails with `stream-interrupted`)
   */
  resendPost?: boolean;
  /**
   * Transports in order of preference. The client starts with the first (or with what the
   * path profile learned) and moves along the list when one cannot work on this path.
   * @default ['sse', 'ws', 'poll']
   */
  transports?: TransportName[];
  /**
   * Whether the server speaks the outlast protocol: `auto` finds out from the first response
   * (its `Outlast-Heartbeat` header); `sse` never sends outlast query parameters and never
   * leaves SSE (a plain resuming SSE client for any spec-compliant server).
   * @default 'auto'
   */
  protocol?: 'auto' | 'outlast' | 'sse';
  /** Resume after this id on the first connection. @default null */
  lastEventId?: string | null;
  /**
   * Heartbeat to ask the server for, ms; `null`: the server's default. A learned idle clock
   * only ever lowers it.
   * @default null
   */
  heartbeatMs?: number | null;
  /** `maxStream` to ask for (rotation), ms; `null`: none unless learned. @default null */
  maxStreamMs?: number | null;
  /**
   * Stall detection: a connection that receives no byte for this many announced heartbeat
   * intervals is dead.
   * @default 3
   */
  stallFactor?: number;
  /**
   * Stall timeout when the server announces no heartbeat (plain SSE servers), ms; `null`: no
   * stall detection there.
   * @default null
   */
  stallTimeoutMs?: number | null;
  /**
   * Racing through a hop that holds (docs/client.md, "Racing"): on an outlast route, an
   * attempt without headers, or with headers but no open notice, after max(this, 4 x the
   * measured round trip) is held by a hop; the next transport starts beside it, the first to
   * deliver wins and the held transport is avoided for the origin. `null`: no racing.
   * @default 2_000
   */
  holdTimeoutMs?: number | null;
  /** Longest wait for a connection to open (response headers, socket open), ms. @default 30_000 */
  openTimeoutMs?: number;
  /**
   * Long-polling hold, ms; lowered to the heartbeat and below a learned total clock.
   * @default 25_000
   */
  pollWaitMs?: number;
  /**
   * After the cut of a healthy connection (its open notice came, or it delivered events or
   * heartbeats), the client
   * reconnects at once, after a random wait of at most this, ms. Backoff is for failures in a
   * row only (docs/client.md, "Reconnects").
   * @default 0
   */
  reconnectJitterMs?: number;
  /**
   * First backoff window after a failed connection (full jitter), ms; doubled per failure in
   * a row. The server's `retry:` widens it (docs/client.md, "Reconnects").
   * @default 500
   */
  initialDelayMs?: number;
  /**
   * First backoff window after a hop failed the request (502, 504, 522, 524 before any stream,
   * no `Retry-After`), ms; doubled per failure in a row. Such an answer says a hop failed this
   * request, not that the server is down, so the retry comes quickly.
   * @default 25
   */
  hopRetryDelayMs?: number;
  /** Largest reconnect delay cap, ms. @default 30_000 */
  maxDelayMs?: number;
  /** A connection that stayed up this long resets the backoff, ms. @default 10_000 */
  healthyAfterMs?: number;
  /** Give up after this many failed reconnects in a row; `null`: never. @default null */
  maxRetries?: number | null;
  /**
   * Attempts at the job-starting POST (`body`) before giving up with `job-start-failed`.
   * Bounded because a POST whose answer was cut may still have started a job on the server:
   * each retry can leave one running unobserved.
   * @default 6
   */
  maxStartAttempts?: number;
  /** Learn the path from how connections die (see docs/client.md). @default true */
  learn?: boolean;
  /**
   * Where path profiles live: `auto` is `localStorage` in browsers and process memory in Node;
   * `{ file }` a JSON file (Node); a custom {@link ProfileStore}; `null` keeps nothing.
   * @default 'auto'
   */
  profile?: 'auto' | 'memory' | { file: string } | ProfileStore | null;
  /**
   * How long each learned lesson holds, ms, counted from when it was learned or last
   * learned again: an older lesson is forgotten on its own (when a connection starts and
   * before each reconnect) and the path is re-validated: the transport it avoided is tried
   * again and the lesson learned again if the hop still holds. `null`: lessons never expire.
   * @default 86_400_000 (24 h)
   */
  lessonTtlMs?: number | null;
  /** Report every lost connection to `{base}/reports` (outlast servers only). @default true */
  reports?: boolean;
  /** Reports are sent in batches at most this often, ms. @default 5_000 */
  reportDelayMs?: number;
  /**
   * Longest SSE line accepted, bytes of UTF-8. A longer line fails the connection with
   * `max-line-bytes-exceeded` (fatal: a reconnect would replay the same line). It also bounds
   * what the client holds for an unfinished line.
   * @default 1_048_576 (1 MiB)
   */
  maxLineBytes?: number;
  /**
   * Largest event data accepted, bytes of UTF-8, on every transport. A larger event fails the
   * connection with `max-event-bytes-exceeded` (fatal, for the same reason).
   * @default 8_388_608 (8 MiB)
   */
  maxEventBytes?: number;
  /**
   * Most events waiting unread in the iterator's queue. One more is never dropped silently:
   * if the iterator runs (the loop reads slower than events arrive), the connection fails
   * with `max-queued-events-exceeded`; if it never started (listeners only), the queue stops
   * there, the connection goes on for the listeners, and an iterator started later yields the
   * queued events, then throws that error.
   * @default 10_000
   */
  maxQueuedEvents?: number;
  /** Recent event ids remembered to drop duplicates. @default 1_024 */
  dedupeWindow?: number;
  /** Closes the connection when aborted (cause `client-abort`). @default none */
  signal?: AbortSignal;
  /** `fetch` to use. @default globalThis.fetch */
  fetch?: FetchLike;
  /**
   * `WebSocket` constructor to use (`ws` in Node 20, which has no global one); `null`: the
   * WebSocket transport is unavailable.
   * @default globalThis.WebSocket, or null
   */
  WebSocket?: WebSocketLike | null;
  /**
   * Page-lifecycle events (`online`, `visibilitychange` to visible, `pageshow` after a loss
   * while hidden or from the back/forward cache): a reconnect waiting on its backoff runs at
   * once when one fires (a connection that is up is left alone). `null`: not watched.
   * @default the page's `window` and `document` (none in Node)
   */
  lifecycle?: PageLifecycle | null;
  /** Timers and clock. @default realClock */
  clock?: Clock;
  /** Random numbers in [0, 1) for the backoff's jitter. @default Math.random */
  random?: () => number;
}

/** Default values of {@link ConnectOptions}. */
export const clientDefaults = {
  headers: {} as Record<string, string>,
  method: 'GET' as 'GET' | 'POST',
  resendPost: false,
  transports: ['sse', 'ws', 'poll'] as TransportName[],
  protocol: 'auto' as 'auto' | 'outlast' | 'sse',
  lastEventId: null as string | null,
  heartbeatMs: null as number | null,
  maxStreamMs: null as number | null,
  stallFactor: 3,
  stallTimeoutMs: null as number | null,
  openTimeoutMs: 30_000,
  holdTimeoutMs: 2_000 as number | null,
  pollWaitMs: 25_000,
  reconnectJitterMs: 0,
  initialDelayMs: 500,
  hopRetryDelayMs: 25,
  maxDelayMs: 30_000,
  healthyAfterMs: 10_000,
  maxRetries: null as number | null,
  maxStartAttempts: 6,
  learn: true,
  profile: 'auto' as const,
  lessonTtlMs: 86_400_000 as number | null,
  reports: true,
  reportDelayMs: 5_000,
  maxLineBytes: parserDefaults.maxLineBytes as number,
  maxEventBytes: parserDefaults.maxEventBytes as number,
  maxQueuedEvents: 10_000,
  dedupeWindow: 1_024,
};
