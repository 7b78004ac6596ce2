import { OutlastError } from '../errors.js';
import { fingerprints } from './fingerprints.js';
import type { HopKnobs } from './knobs.js';

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
