import type { ExperimentRecord } from './types.js';

/** The probe transports. */
export type ProbeTransport = 'sse' | 'websocket' | 'long-poll';

/** A WebSocket client constructor shaped like `ws`'s (Node events, headers option). */
export type WsConstructor = new (
  url: string,
  options?: { headers?: Record<string, string>; perMessageDeflate?: boolean },
) => WsLike;

/** The part of a `ws` client socket the probe uses. */
export interface WsLike {
  on(
    event: 'upgrade',
    listener: (res: { headers: Record<string, string | string[] | undefined> }) => void,
  ): unknown;
  on(
    event: 'unexpected-response',
    listener: (req: unknown, res: UnexpectedResponse) => void,
  ): unknown;
  on(
    event: 'message',
    listener: (data: { length?: number; byteLength?: number } | string) => void,
  ): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer | string) => void): unknown;
  on(event: 'error', listener: (error: Error & { code?: string }) => void): unknown;
  terminate(): void;
}

/** A non-101 answer to an upgrade, as `ws` hands it over. */
export interface UnexpectedResponse {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: () => void): unknown;
  destroy(): void;
}

/** What the probe tells its observer as it goes. */
export type ProbeProgress =
  | { type: 'start'; target: string; maxWaitMs: number; experiments: string[] }
  | { type: 'experiment'; record: ExperimentRecord }
  | { type: 'finding'; text: string };

/** Options of {@link runProbe}. */
export interface ProbeOptions {
  /**
   * Longest the probe waits for any limit, ms; a limit not seen by then is reported as null
   * ("not reached up to max-wait"). Capped by the probe server's `maxHoldMs`.
   * @default 360_000 (6 min: past Service Connect's 300 s idle)
   */
  maxWaitMs?: number;
  /**
   * Which transports to measure.
   * @default ['sse', 'websocket', 'long-poll']
   */
  transports?: ProbeTransport[];
  /**
   * Heartbeat of the chatty streams (the total-clock experiments), ms. Also the precision of a
   * total clock that acts as a write deadline. `null`: max-wait / 400, between 5 and 500 ms.
   * @default null
   */
  heartbeatMs?: number | null;
  /**
   * Length of the timestamped trains (buffering), ms. `null`: max-wait / 10, between 600 ms and
   * 2 s, so a train ends before the usual total clocks.
   * @default null
   */
  trainMs?: number | null;
  /**
   * Events per train.
   * @default 40
   */
  trainEvents?: number;
  /**
   * Bytes per train event.
   * @default 256
   */
  trainEventBytes?: number;
  /**
   * Rungs of the silence-then-marker ladder (silent drops), spread geometrically from
   * max-wait / 16 to max-wait (rungs under 100 ms are dropped): 20 rungs bracket a silent drop
   * within 16 % (its midpoint within 8 %). 0 turns the ladder off.
   * @default 20
   */
  ladderRungs?: number;
  /**
   * Streams added inside the bracket when the ladder alone shows a limit (silent drops).
   * @default 4
   */
  refineRungs?: number;
  /**
   * Token for a probe server that needs one (sent as `?token=`).
   * @default null
   */
  token?: string | null;
  /** Extra request headers on every probe request. @default {} */
  headers?: Record<string, string>;
  /** `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** WebSocket client constructor (`ws`'s shape). @default `ws`'s WebSocket */
  WebSocket?: WsConstructor;
  /** Monotonic clock, ms. @default performance.now */
  now?: () => number;
  /** Called as experiments start, end and findings come in. @default none */
  onProgress?: (progress: ProbeProgress) => void;
  /**
   * Send the active probes (a malformed method, `TRACE` with `Max-Forwards`, a 9 KiB header)
   * that make hops answer for themselves, over raw sockets to the target's host.
   * @default true
   */
  activeProbes?: boolean;
  /** Stops the probe early (it reports what it knows). @default none */
  signal?: AbortSignal;
}

/** Defaults of {@link ProbeOptions}. */
export const probeDefaults = {
  maxWaitMs: 360_000,
  transports: ['sse', 'websocket', 'long-poll'] as ProbeTransport[],
  heartbeatMs: null as number | null,
  trainMs: null as number | null,
  trainEvents: 40,
  trainEventBytes: 256,
  ladderRungs: 20,
  activeProbes: true,
  refineRungs: 4,
  token: null as string | null,
};

/** The chatty heartbeat for a max-wait: fine enough for 5 % on a write deadline. */
export function chattyHeartbeat(maxWaitMs: number, chosen: number | null): number {
  if (chosen !== null) return chosen;
  return Math.round(Math.min(500, Math.max(5, maxWaitMs / 400)));
}

/** The train length for a max-wait. */
export function trainLength(maxWaitMs: number, chosen: number | null): number {
  if (chosen !== null) return chosen;
  return Math.round(Math.min(2000, Math.max(600, maxWaitMs / 10)));
}
