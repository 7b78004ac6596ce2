import { OutlastError } from '../../errors.js';
/** Options of {@link createProbeHandler} and the standalone probe server. */
export interface ProbeServerOptions {
  /**
   * Path prefix of every probe endpoint.
   * @default '/outlast-probe'
   */
  basePath?: string;
  /**
   * Longest any endpoint holds a response or a WebSocket open, ms. Longer requests get 400.
   * @default 900_000 (15 min)
   */
  maxHoldMs?: number;
  /**
   * Probe connections held at once (all clients together); past it: 429.
   * @default 200
   */
  maxConcurrent?: number;
  /**
   * Requests per client address per minute; past it: 429 with `Retry-After`.
   * @default 1_200
   */
  maxRequestsPerMinute?: number;
  /**
   * Events in one timestamped train, at most.
   * @default 10_000
   */
  maxTrainEvents?: number;
  /**
   * Size of one train event, bytes, at most.
   * @default 65_536
   */
  maxEventBytes?: number;
  /**
   * Shortest heartbeat or train interval a client may ask for, ms.
   * @default 1
   */
  minIntervalMs?: number;
  /**
   * Token every request must carry (`?token=` or `Authorization: Bearer`). `null`: none.
   * The standalone server requires one when it listens beyond loopback.
   * @default null
   */
  token?: string | null;
  /**
   * Serve the browser probe page at `{base}/ui`.
   * @default true
   */
  page?: boolean;
  /** Clock for timestamps, Unix ms. @default Date.now */
  now?: () => number;
}

/** Default values of {@link ProbeServerOptions}. */
export const probeServerDefaults = {
  basePath: '/outlast-probe',
  maxHoldMs: 900_000,
  maxConcurrent: 200,
  maxRequestsPerMinute: 1_200,
  maxTrainEvents: 10_000,
  maxEventBytes: 65_536,
  minIntervalMs: 1,
  token: null as string | null,
  page: true,
} as const;

/** Options after defaults. */
export type ResolvedProbeServerOptions = Required<Omit<ProbeServerOptions, 'now' | 'token'>> & {
  token: string | null;
  now: () => number;
};

/** Applies the defaults and normalises the base path (leading slash, no trailing slash). */
export function resolveProbeServerOptions(
  options: ProbeServerOptions = {},
): ResolvedProbeServerOptions {
  if (typeof options.token === 'string' && options.token.trim() === '') {
    // An empty token would let `?token=` through: the same as no token, but looking guarded.
    throw new OutlastError(
      'invalid-option',
      'the probe token is empty: give a real one, or leave it out (null) to serve without',
    );
  }
  const base = `/${(options.basePath ?? probeServerDefaults.basePath).replace(/^\/+|\/+$/g, '')}`;
  return {
    ...probeServerDefaults,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    basePath: base === '/' ? '' : base,
    token: options.token ?? null,
    now: options.now ?? Date.now,
  } as ResolvedProbeServerOptions;
}

/** The protocol marker the info endpoint answers with: how `outlast probe` knows its peer. */
export const PROBE_PROTOCOL = 'outlast-probe/1';
