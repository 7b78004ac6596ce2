import type { ServerMetrics } from '../metrics/types.js';
import type { Store } from '../store/types.js';
import type { JobHandler } from './jobs.js';

/**
 * What the `authorize` hook answers: `true` lets the request through; `{ identity }` lets it
 * through as that identity (a user or tenant id: a job started so records it as its owner,
 * and only the same identity may then read, fetch or cancel it); `false` or `'forbidden'`
 * gives 403; `'unauthorized'` gives 401. Anything else is a refusal (403).
 */
export type AuthorizeDecision = boolean | 'unauthorized' | 'forbidden' | { identity: string };

/** What a request wants to do, as told to the `authorize` hook. */
export type AuthorizeAction = 'read' | 'start-job' | 'job' | 'cancel-job' | 'report';

/** CORS settings. */
export interface CorsOptions {
  /**
   * Allowed origins: `'*'`, one origin, a list, or a predicate.
   * @default '*'
   */
  origin?: '*' | string | string[] | ((origin: string) => boolean);
  /**
   * Send `Access-Control-Allow-Credentials: true` (the allowed origin is then echoed). Needs
   * an explicit `origin` (a string, a list or a predicate): `'*'` with credentials is refused
   * with `invalid-option`, since it would let every site read with the user's cookies.
   * @default false
   */
  credentials?: boolean;
  /**
   * Request headers a preflight allows (`Access-Control-Allow-Headers`), e.g. a custom auth
   * header.
   * @default ['Last-Event-ID', 'Content-Type', 'Authorization', 'Idempotency-Key']
   */
  allowedHeaders?: string[];
  /**
   * Preflight cache lifetime, seconds.
   * @default 600
   */
  maxAgeSeconds?: number;
}

/** Every option of the server. Defaults are in {@link serverDefaults}. */
export interface ServerOptions {
  /**
   * Where streams and job records live. A store passed here is the caller's to close; the
   * default one is closed by `close()`. @default a new `createMemoryStore()`
   */
  store?: Store;
  /** Path prefix of every route. @default '/outlast' */
  basePath?: string;
  /**
   * Heartbeat interval when the client asks for none, ms. Half of the shortest idle clock on
   * the path is enough (ALB 60 s, nginx 60 s, Heroku 55 s).
   * @default 15_000
   */
  heartbeatMs?: number;
  /** Lowest heartbeat a client may ask for (`heartbeat` query), ms. @default 1_000 */
  minHeartbeatMs?: number;
  /** Highest heartbeat a client may ask for, ms. @default 60_000 */
  maxHeartbeatMs?: number;
  /**
   * Granularity of the shared heartbeat scheduler, ms: heartbeats and rotations fire up to
   * this much early, never late. Also the unit of work: each tick writes the heartbeats that
   * fall due in it, so a smaller tick spreads a large number of connections into smaller
   * pauses of the event loop.
   * @default 100
   */
  heartbeatTickMs?: number;
  /**
   * Longest time one response stays open before the server rotates it (`outlast.rotate`,
   * clean end, client resumes at once). Set it below the shortest total-duration clock on the
   * path (Service Connect 15 s, API Gateway 29 s, GCP LB 30 s). `null`: no rotation unless the
   * client asks with `maxStream`.
   * @default null
   */
  maxStreamMs?: number | null;
  /** Lowest `maxStream` a client may ask for, ms. @default 1_000 */
  minMaxStreamMs?: number;
  /**
   * Highest `maxStream` a client may ask for when `maxStreamMs` is `null` (when set,
   * `maxStreamMs` is the cap), ms.
   * @default 3_600_000
   */
  maxStreamCapMs?: number;
  /** SSE `retry:` hint: how long `EventSource` waits before reconnecting, ms. @default 1_000 */
  retryMs?: number;
  /** Long-poll hold when the client gives no `wait`, ms. @default 25_000 */
  pollWaitMs?: number;
  /** Highest `wait` a client may ask for, ms. @default 60_000 */
  maxPollWaitMs?: number;
  /** Most events in one long-poll batch. @default 1_000 */
  maxPollBatch?: number;
  /**
   * A WebSocket opened without `lastEventId` in its query must send its resume frame within
   * this time, ms, or it is closed with 1008.
   * @default 10_000
   */
  wsHelloTimeoutMs?: number;
  /** Largest WebSocket frame accepted from a client, bytes. @default 4_096 */
  maxWsFrameBytes?: number;
  /**
   * Bytes a connection may have queued for a client that does not read. Past it the
   * connection is closed (reason `backpressure`); the client resumes from its last id.
   * @default 1_048_576 (1 MiB)
   */
  maxBufferBytes?: number;
  /** Connections (SSE, WebSocket, held polls) per stream; past it: 429. @default 10_000 */
  maxConnectionsPerStream?: number;
  /** Connections in total; past it: 503. @default 20_000 */
  maxConnections?: number;
  /**
   * Connections (SSE, WebSocket, held polls) from one client address; past it: 429
   * `too-many-address-connections`, so one client cannot take every connection. IPv6
   * addresses count by their /64 (what one host or home is given). The address is the one
   * {@link ServerOptions.clientAddress} tells; with none, this limit does not apply.
   * `null`, `0` or `Infinity`: no limit. Behind a reverse proxy every client has the proxy's
   * address unless `clientAddress` reads the one the proxy forwards.
   * @default maxConnections / 10, rounded up (2_000)
   */
  maxConnectionsPerAddress?: number | null;
  /**
   * Connections from one identity (what `authorize` answered as `{ identity }`); past it: 429
   * `too-many-identity-connections`, whatever addresses they come from. Requests without an
   * identity are not counted here. `null`, `0` or `Infinity`: no limit.
   * @default maxConnections / 20, rounded up (1_000)
   */
  maxConnectionsPerIdentity?: number | null;
  /**
   * The client address that `maxConnectionsPerAddress` counts by. `peer` is the address of
   * the connection as the runtime sees it: the socket's remote address on the Node adapter
   * and `attachWebSocket`; `null` for `outlast.fetch` (a fetch handler has no socket). Return
   * `null` to leave a request uncounted.
   *
   * Behind a reverse proxy the peer is the proxy. Read the address your own proxy adds, and
   * only that: `X-Forwarded-For` is sent by anyone, and a client that chose its own would
   * name a fresh address for each connection (escaping the limit) or a victim's (using up
   * its share). Its rightmost entry is the one your proxy appended; Cloudflare's
   * `CF-Connecting-IP` is set by Cloudflare (trust it only when every request comes through
   * Cloudflare, as on Workers).
   * @default the peer address: `(request, peer) => peer`
   */
  clientAddress?: ((request: Request, peer: string | null) => string | null | undefined) | null;
  /**
   * Jobs running at once in this process; past it `POST /jobs/{name}` gets 503. A job counts
   * from its start until its function returns (a cancelled job that ignores its signal still
   * counts). @default 1_000
   */
  maxRunningJobs?: number;
  /**
   * How long settling a job (its record and final event, one atomic store write) is retried
   * while the store fails, with backoff from 25 ms up to 1 s; past it the job is given up and
   * marked `lost`. @default 30_000
   */
  settleRetryMs?: number;
  /** Largest request body (job input), bytes; past it: 413. @default 1_048_576 (1 MiB) */
  maxBodyBytes?: number;
  /** Largest cut-report body, bytes. @default 65_536 */
  maxReportBytes?: number;
  /** Most reports in one `POST /reports`. @default 100 */
  maxReportsPerRequest?: number;
  /** `Retry-After` sent with 429 and 503, seconds. @default 5 */
  retryAfterSeconds?: number;
  /** How long a settled job's result or error stays fetchable, ms. @default 3_600_000 */
  resultTtlMs?: number;
  /** Events read from the store per round while a reader catches up. @default 500 */
  readBatch?: number;
  /** Named job handlers, started by `POST {base}/jobs/{name}` with the JSON body as input. */
  jobs?: Record<string, JobHandler>;
  /**
   * Decides who may read a stream, start, read or cancel a job, and report cuts. `streamId` is
   * the stream or job id (the handler name for `start-job`, `''` for `report`).
   * Default: everyone may do everything (ids are unguessable; nothing lists them).
   */
  authorize?: (
    request: Request,
    streamId: string,
    action: AuthorizeAction,
  ) => AuthorizeDecision | Promise<AuthorizeDecision>;
  /** CORS; `null`: no CORS headers. @default null */
  cors?: CorsOptions | null;
  /** Metrics sink, e.g. `createMetrics()` from `outlast/metrics`. @default none */
  metrics?: ServerMetrics | null;
  /** Wall clock, Unix ms: job record times and the heartbeat's `t`. @default Date.now */
  now?: () => number;
  /**
   * Monotonic clock, ms from any origin: heartbeats, rotation deadlines and connection
   * durations. Never steps with the wall clock (NTP, a resumed VM), so a clock jump neither
   * stalls heartbeats nor bunches them.
   * @default performance.now
   */
  monotonicNow?: () => number;
  /** Called with errors no client can be told about (a job's thrown error, a store failure). */
  onError?: (error: unknown) => void;
}

/** Default option values of the server. */
export const serverDefaults = {
  basePath: '/outlast',
  heartbeatMs: 15_000,
  minHeartbeatMs: 1_000,
  maxHeartbeatMs: 60_000,
  heartbeatTickMs: 100,
  maxStreamMs: null as number | null,
  minMaxStreamMs: 1_000,
  maxStreamCapMs: 3_600_000,
  retryMs: 1_000,
  pollWaitMs: 25_000,
  maxPollWaitMs: 60_000,
  maxPollBatch: 1_000,
  wsHelloTimeoutMs: 10_000,
  maxWsFrameBytes: 4_096,
  maxBufferBytes: 1_048_576,
  maxConnectionsPerStream: 10_000,
  maxConnections: 20_000,
  maxRunningJobs: 1_000,
  settleRetryMs: 30_000,
  maxBodyBytes: 1_048_576,
  maxReportBytes: 65_536,
  maxReportsPerRequest: 100,
  retryAfterSeconds: 5,
  resultTtlMs: 3_600_000,
  readBatch: 500,
} as const;

/**
 * The per-client limits default to a share of `maxConnections`: one address may take a
 * tenth of it, one identity a twentieth (an address may be a whole office behind one NAT).
 */
export const clientLimitShares = {
  maxConnectionsPerAddress: 10,
  maxConnectionsPerIdentity: 20,
} as const;

/** Options after defaults, as the server uses them. */
export type ResolvedOptions = Omit<
  Required<ServerOptions>,
  | 'authorize'
  | 'cors'
  | 'metrics'
  | 'onError'
  | 'store'
  | 'maxStreamMs'
  | 'maxConnectionsPerAddress'
  | 'maxConnectionsPerIdentity'
  | 'clientAddress'
> & {
  /** `Infinity`: no limit. */
  maxConnectionsPerAddress: number;
  /** `Infinity`: no limit. */
  maxConnectionsPerIdentity: number;
  clientAddress: ((request: Request, peer: string | null) => string | null | undefined) | null;
  store: Store;
  maxStreamMs: number | null;
  authorize: ServerOptions['authorize'] | undefined;
  cors: CorsOptions | null;
  metrics: ServerMetrics;
  onError: (error: unknown) => void;
};
