import { OutlastError } from '../errors.js';
import { fingerprints } from './fingerprints.js';

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
   * `null`: WebSockets are exempt from the total clock (Service Connect, seed 000).
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

/** The kind of value a knob holds: drives validation, CLI parsing and help text. */
export type KnobKind =
  | 'duration'
  | 'duration-inherit'
  | 'count'
  | 'status'
  | 'probability'
  | 'boolean'
  | 'enum'
  | 'list'
  | 'headers'
  | 'name';

/** How one knob is validated, parsed from the CLI and described. */
export interface KnobSpec {
  key: keyof HopKnobs;
  /** CLI flag, without `--`. */
  flag: string;
  kind: KnobKind;
  /** Accepted values of an `enum` or `list`. */
  values?: readonly string[];
  /** Whether `null` is accepted. */
  nullable: boolean;
  /** One line of help. */
  help: string;
}

/** Every knob, in the order help texts list them. */
export const knobSpecs: readonly KnobSpec[] = [
  { key: 'idleMs', flag: 'idle', kind: 'duration', nullable: true, help: 'idle clock' },
  { key: 'totalMs', flag: 'total', kind: 'duration', nullable: true, help: 'total clock' },
  {
    key: 'firstByteMs',
    flag: 'first-byte',
    kind: 'duration',
    nullable: true,
    help: 'first-byte clock (until response headers)',
  },
  {
    key: 'totalMode',
    flag: 'total-mode',
    kind: 'enum',
    values: ['timer', 'write-deadline'],
    nullable: false,
    help: 'total clock fires on time, or at the next write after it',
  },
  {
    key: 'cut',
    flag: 'cut',
    kind: 'enum',
    values: ['fin', 'rst', 'silent'],
    nullable: false,
    help: 'how a clock ends a response after its headers (silent: NLB drop)',
  },
  {
    key: 'timeoutStatus',
    flag: 'timeout-status',
    kind: 'status',
    nullable: false,
    help: 'status when a clock fires before headers',
  },
  {
    key: 'upstreamErrorStatus',
    flag: 'upstream-error-status',
    kind: 'status',
    nullable: false,
    help: 'status when the upstream is unreachable',
  },
  {
    key: 'upstreamErrorDelayMs',
    flag: 'upstream-error-delay',
    kind: 'duration',
    nullable: false,
    help: 'wait before answering a refused upstream',
  },
  {
    key: 'bufferBytes',
    flag: 'buffer-bytes',
    kind: 'count',
    nullable: true,
    help: 'hold response bytes until N are held or the end',
  },
  {
    key: 'holdWhole',
    flag: 'hold-whole',
    kind: 'boolean',
    nullable: false,
    help: 'hold whole responses until their end',
  },
  {
    key: 'bufferTypes',
    flag: 'buffer-types',
    kind: 'list',
    nullable: true,
    help: 'content types buffering applies to (default: all)',
  },
  {
    key: 'bufferOptOut',
    flag: 'buffer-opt-out',
    kind: 'list',
    values: ['x-accel-buffering', 'no-transform'],
    nullable: false,
    help: 'response headers that turn buffering off',
  },
  {
    key: 'bufferNeedsGzip',
    flag: 'buffer-needs-gzip',
    kind: 'boolean',
    nullable: false,
    help: 'buffer only requests that accept gzip',
  },
  {
    key: 'headWaitsForBody',
    flag: 'head-waits-for-body',
    kind: 'boolean',
    nullable: false,
    help: 'hold the response head until body bytes come (nginx)',
  },
  {
    key: 'corkMs',
    flag: 'cork',
    kind: 'duration',
    nullable: true,
    help: 'hold writes up to this long, then send together (HAProxy)',
  },
  {
    key: 'websocket',
    flag: 'websocket',
    kind: 'enum',
    values: ['pass', 'refuse'],
    nullable: false,
    help: 'tunnel or refuse WebSocket upgrades',
  },
  {
    key: 'websocketIdleMs',
    flag: 'websocket-idle',
    kind: 'duration-inherit',
    nullable: true,
    help: 'idle clock of WebSocket tunnels',
  },
  {
    key: 'websocketTotalMs',
    flag: 'websocket-total',
    kind: 'duration-inherit',
    nullable: true,
    help: 'total clock of WebSocket tunnels (off: exempt)',
  },
  {
    key: 'websocketRefuseStatus',
    flag: 'websocket-refuse-status',
    kind: 'status',
    nullable: false,
    help: 'status of a refused WebSocket (403 or 426)',
  },
  {
    key: 'fingerprint',
    flag: 'fingerprint',
    kind: 'name',
    nullable: true,
    help: 'whose headers and error pages the hop uses',
  },
  {
    key: 'addRequestHeaders',
    flag: 'add-request-header',
    kind: 'headers',
    nullable: false,
    help: '"name: value" added to requests (repeatable)',
  },
  {
    key: 'addResponseHeaders',
    flag: 'add-response-header',
    kind: 'headers',
    nullable: false,
    help: '"name: value" added to responses (repeatable)',
  },
  { key: 'latencyMs', flag: 'latency', kind: 'duration', nullable: false, help: 'added delay' },
  { key: 'jitterMs', flag: 'jitter', kind: 'duration', nullable: false, help: 'random delay' },
  {
    key: 'bandwidthBytesPerSec',
    flag: 'bandwidth',
    kind: 'count',
    nullable: true,
    help: 'response bytes per second',
  },
  {
    key: 'resetProbability',
    flag: 'reset-probability',
    kind: 'probability',
    nullable: false,
    help: 'chance an exchange is reset at a random byte',
  },
  {
    key: 'resetMaxBytes',
    flag: 'reset-max-bytes',
    kind: 'count',
    nullable: false,
    help: 'upper bound of the random reset point',
  },
  {
    key: 'resetAfterBytes',
    flag: 'reset-after-bytes',
    kind: 'count',
    nullable: true,
    help: 'reset every exchange after N body bytes',
  },
  {
    key: 'sliceBytes',
    flag: 'slice-bytes',
    kind: 'count',
    nullable: true,
    help: 'write responses in pieces of at most N bytes',
  },
  {
    key: 'sliceDelayMs',
    flag: 'slice-delay',
    kind: 'duration',
    nullable: false,
    help: 'pause between slices',
  },
  {
    key: 'refuseConnections',
    flag: 'refuse-connections',
    kind: 'boolean',
    nullable: false,
    help: 'reset new client connections',
  },
];

const specByKey = new Map(knobSpecs.map((s) => [s.key, s]));

function bad(key: string, value: unknown, expected: string): OutlastError {
  return new OutlastError(
    'invalid-option',
    `knob ${key} = ${JSON.stringify(value)} is invalid; expected ${expected}`,
  );
}

function checkValue(spec: KnobSpec, value: unknown): void {
  const { key, kind } = spec;
  if (value === null) {
    if (spec.nullable) return;
    throw bad(key, value, `a value (null is not accepted for ${key})`);
  }
  const finite = typeof value === 'number' && Number.isFinite(value) && value >= 0;
  switch (kind) {
    case 'duration':
    case 'count':
      if (!finite) throw bad(key, value, 'a number >= 0');
      return;
    case 'duration-inherit':
      if (value !== 'inherit' && !finite) throw bad(key, value, 'a number >= 0, null or "inherit"');
      return;
    case 'status':
      if (!Number.isInteger(value) || (value as number) < 100 || (value as number) > 599) {
        throw bad(key, value, 'an HTTP status (100-599)');
      }
      return;
    case 'probability':
      if (!finite || (value as number) > 1) throw bad(key, value, 'a probability in [0, 1]');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad(key, value, 'true or false');
      return;
    case 'enum':
      if (!spec.values!.includes(value as string)) {
        throw bad(key, value, `one of ${spec.values!.join(', ')}`);
      }
      return;
    case 'list':
      if (
        !Array.isArray(value) ||
        value.some((v) => typeof v !== 'string' || (spec.values && !spec.values.includes(v)))
      ) {
        throw bad(key, value, `an array of ${spec.values ? spec.values.join(' | ') : 'strings'}`);
      }
      return;
    case 'headers':
      if (
        typeof value !== 'object' ||
        Array.isArray(value) ||
        Object.values(value as object).some((v) => typeof v !== 'string')
      ) {
        throw bad(key, value, 'an object of header name to string value');
      }
      return;
    case 'name':
      if (typeof value !== 'string' || fingerprints[value] === undefined) {
        throw bad(key, value, `null or one of ${Object.keys(fingerprints).join(', ')}`);
      }
      return;
  }
}

/**
 * Checks a partial set of knobs (from options or the control API).
 * @throws {OutlastError} `unknown-knob` for a name that is not a knob, `invalid-option` for a
 * value out of range.
 */
export function validateKnobs(partial: unknown): Partial<HopKnobs> {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
    throw new OutlastError('invalid-option', 'knobs must be a JSON object of knob names to values');
  }
  for (const [key, value] of Object.entries(partial)) {
    const spec = specByKey.get(key as keyof HopKnobs);
    if (spec === undefined) {
      throw new OutlastError(
        'unknown-knob',
        `"${key}" is not a knob; known knobs: ${knobSpecs.map((s) => s.key).join(', ')}`,
      );
    }
    if (value !== undefined) checkValue(spec, value);
  }
  return partial as Partial<HopKnobs>;
}

/** Merges knobs over a base, dropping `undefined` values. */
export function mergeKnobs(base: Readonly<HopKnobs>, ...overrides: Partial<HopKnobs>[]): HopKnobs {
  const out = { ...base } as Record<string, unknown>;
  for (const o of overrides) {
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  }
  return out as unknown as HopKnobs;
}
