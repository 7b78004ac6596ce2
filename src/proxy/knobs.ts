/**
 * Everything one hop does, as plain JSON-friendly values: the same names are options of
 * {@link createProxy}, fields of the control API and (kebab-cased) CLI flags.
 *
 * Durations are milliseconds at time scale 1; the proxy's `timeScale` shrinks them when they
 * are used. `null` switches a clock or a fault off.
 */
export interface HopKnobs {
  /**
   * Idle clock: fires after this long without a byte in either direction (request body from
   * the client, response bytes from the upstream). Before response headers it answers
   * `timeoutStatus`; after, it cuts the connection (`cut`).
   * @default null
   */
  idleMs: number | null;
  /**
   * Total-duration clock: fires this long after the request arrived, however busy the
   * exchange is. Traffic never resets it.
   * @default null
   */
  totalMs: number | null;
  /**
   * First-byte clock: fires when the upstream has not sent its response headers this long
   * after the request arrived. Stops once the headers are in.
   * @default null
   */
  firstByteMs: number | null;
  /**
   * How the total clock acts. `timer`: it fires on time. `write-deadline` (Go servers,
   * Caddy): nothing happens at the deadline; the next write after it fails, so a silent
   * stream looks alive until the upstream sends again.
   * @default 'timer'
   */
  totalMode: 'timer' | 'write-deadline';
  /**
   * How a clock cuts a response whose headers were already sent: `fin` closes the connection
   * (the client sees the body end early), `rst` resets it (ECONNRESET). `silent` is an L4
   * silent drop (NLB, NAT), before or after headers: nothing more reaches either side, and
   * whoever sends next gets a RST.
   * @default 'fin'
   */
  cut: 'fin' | 'rst' | 'silent';
  /**
   * Status the hop answers when a clock fires before response headers (504 nginx/ALB/Envoy,
   * 524 Cloudflare, 503 Heroku).
   * @default 504
   */
  timeoutStatus: number;
  /**
   * Status the hop answers when the upstream cannot be reached or dies before its headers.
   * @default 502
   */
  upstreamErrorStatus: number;
  /**
   * Delay before answering `upstreamErrorStatus` when the upstream refuses the connection
   * (HAProxy retries 3 times, 1 s apart, before its 503: measured).
   * @default 0
   */
  upstreamErrorDelayMs: number;
  /**
   * Hold response bytes until this many are held (then release them all) or the response
   * ends. `null`: no buffering.
   * @default null
   */
  bufferBytes: number | null;
  /**
   * Hold the whole response until it ends (what compression middleware and scanning proxies
   * do to a stream).
   * @default false
   */
  holdWhole: boolean;
  /**
   * Content types (`type/subtype`, parameters ignored) that `bufferBytes` and `holdWhole`
   * apply to. `null`: every response.
   * @default null
   */
  bufferTypes: string[] | null;
  /**
   * Response headers that turn buffering off for that response: `x-accel-buffering` means
   * `X-Accel-Buffering: no` (nginx), `no-transform` means `Cache-Control: no-transform`
   * (compression middleware).
   * @default []
   */
  bufferOptOut: Array<'x-accel-buffering' | 'no-transform'>;
  /**
   * Buffering applies only to requests that accept gzip (`Accept-Encoding`), as compression
   * does (nginx `gzip`, express `compression`). The proxy holds the bytes but does not
   * compress them.
   * @default false
   */
  bufferNeedsGzip: boolean;
  /**
   * Hold the response head until the first body bytes (or the end, or a cut): what nginx does
   * with `proxy_buffering on` (measured). `bufferOptOut` headers turn it off too.
   * @default false
   */
  headWaitsForBody: boolean;
  /**
   * Corked writes: bytes (and the head) going to the client are held until this long after
   * the first held byte, then sent together; the end of a response flushes at once. This is
   * what HAProxy does without `option http-no-delay` (MSG_MORE, Linux's 200 ms cork; measured).
   * `null`: every write goes out at once.
   * @default null
   */
  corkMs: number | null;
  /**
   * What the hop does with a WebSocket (any `Upgrade`) request: `pass` tunnels it with the
   * WebSocket clocks; `refuse` answers `websocketRefuseStatus`.
   * @default 'pass'
   */
  websocket: 'pass' | 'refuse';
  /**
   * Idle clock of a WebSocket tunnel (bytes either way reset it). `inherit`: `idleMs`.
   * @default 'inherit'
   */
  websocketIdleMs: number | null | 'inherit';
  /**
   * Total clock of a WebSocket tunnel, from the upgrade request. `inherit`: `totalMs`;
   * `null`: WebSockets are exempt from the total clock (Service Connect, the Service Connect incident).
   * @default 'inherit'
   */
  websocketTotalMs: number | null | 'inherit';
  /**
   * Status of a refused WebSocket: 403 (forbidden) or 426 (upgrade required).
   * @default 403
   */
  websocketRefuseStatus: number;
  /**
   * Which real intermediary's headers the hop adds (requests and responses) and whose error
   * pages it answers with; `null`: a plain `x-forwarded-for` and generic pages. Names are those
   * of the presets.
   * @default null
   */
  fingerprint: string | null;
  /**
   * Extra headers added to every request sent upstream.
   * @default {}
   */
  addRequestHeaders: Record<string, string>;
  /**
   * Extra headers added to every response sent to the client.
   * @default {}
   */
  addResponseHeaders: Record<string, string>;
  /**
   * Delay added to the response head and to every response chunk (order is kept).
   * @default 0
   */
  latencyMs: number;
  /**
   * Random extra delay, uniform in [0, jitterMs], on top of `latencyMs`.
   * @default 0
   */
  jitterMs: number;
  /**
   * Response bandwidth in bytes per second; `null`: unlimited. Not scaled by `timeScale`.
   * @default null
   */
  bandwidthBytesPerSec: number | null;
  /**
   * Probability (0 to 1) that an exchange is reset (RST) after a random number of response
   * body bytes, uniform in [0, `resetMaxBytes`] (or at its end if it is shorter).
   * @default 0
   */
  resetProbability: number;
  /**
   * Upper bound of the random reset point of `resetProbability`.
   * @default 65536
   */
  resetMaxBytes: number;
  /**
   * Reset (RST) every exchange after exactly this many response body bytes; `null`: never.
   * @default null
   */
  resetAfterBytes: number | null;
  /**
   * Write response bytes to the client in pieces of at most this many bytes; `null`: as they
   * come.
   * @default null
   */
  sliceBytes: number | null;
  /**
   * Pause between two slices (makes each its own TCP segment).
   * @default 0
   */
  sliceDelayMs: number;
  /**
   * Reset every new client connection as soon as it is accepted (ECONNRESET for the client).
   * @default false
   */
  refuseConnections: boolean;
}

/** The knobs of a hop with no preset: a transparent proxy. */
export const hopDefaults: Readonly<HopKnobs> = Object.freeze({
  idleMs: null,
  totalMs: null,
  firstByteMs: null,
  totalMode: 'timer',
  cut: 'fin',
  timeoutStatus: 504,
  upstreamErrorStatus: 502,
  upstreamErrorDelayMs: 0,
  bufferBytes: null,
  holdWhole: false,
  bufferTypes: null,
  bufferOptOut: [],
  bufferNeedsGzip: false,
  headWaitsForBody: false,
  corkMs: null,
  websocket: 'pass',
  websocketIdleMs: 'inherit',
  websocketTotalMs: 'inherit',
  websocketRefuseStatus: 403,
  fingerprint: null,
  addRequestHeaders: {},
  addResponseHeaders: {},
  latencyMs: 0,
  jitterMs: 0,
  bandwidthBytesPerSec: null,
  resetProbability: 0,
  resetMaxBytes: 65_536,
  resetAfterBytes: null,
  sliceBytes: null,
  sliceDelayMs: 0,
  refuseConnections: false,
} satisfies HopKnobs);

export {
  type KnobKind,
  type KnobSpec,
  knobSpecs,
  validateKnobs,
} from './knob-specs.js';

/** Merges knobs over a base, dropping `undefined` values. */
export function mergeKnobs(base: Readonly<HopKnobs>, ...overrides: Partial<HopKnobs>[]): HopKnobs {
  const out = { ...base } as Record<string, unknown>;
  for (const o of overrides) {
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  }
  return out as unknown as HopKnobs;
}
