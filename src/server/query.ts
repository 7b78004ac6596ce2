import type { TransportName } from '../metrics/types.js';
import type { ResolvedOptions } from './options.js';

/** A stream request's parameters after validation and clamping. */
export interface StreamParams {
  /** Explicit transport, or `null` (decided by the upgrade header). */
  transport: TransportName | null;
  /** `undefined`: not given (WebSocket then waits for a resume frame). */
  lastEventId: string | null | undefined;
  heartbeatMs: number;
  maxStreamMs: number | null;
  waitMs: number;
}

const INTEGER = /^\d{1,15}$/;

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

/**
 * Reads `transport`, `lastEventId`, `heartbeat`, `maxStream` and `wait` (docs/protocol.md).
 * Returns the message of a 400 when a value is not accepted.
 */
export function parseStreamQuery(
  query: URLSearchParams,
  o: ResolvedOptions,
): StreamParams | string {
  const transport = query.get('transport');
  if (transport !== null && transport !== 'sse' && transport !== 'ws' && transport !== 'poll') {
    return `transport must be one of sse, ws, poll (got ${JSON.stringify(transport)})`;
  }
  const ints: Record<'heartbeat' | 'maxStream' | 'wait', number | null> = {
    heartbeat: null,
    maxStream: null,
    wait: null,
  };
  for (const name of ['heartbeat', 'maxStream', 'wait'] as const) {
    const text = query.get(name);
    if (text === null) continue;
    if (!INTEGER.test(text)) {
      return `${name} must be a non-negative integer number of milliseconds (got ${JSON.stringify(text)})`;
    }
    ints[name] = Number(text);
  }
  const heartbeatMs =
    ints.heartbeat === null
      ? o.heartbeatMs
      : clamp(ints.heartbeat, o.minHeartbeatMs, o.maxHeartbeatMs);
  const cap = o.maxStreamMs ?? o.maxStreamCapMs;
  const maxStreamMs =
    ints.maxStream === null ? o.maxStreamMs : clamp(ints.maxStream, o.minMaxStreamMs, cap);
  const waitMs = ints.wait === null ? o.pollWaitMs : clamp(ints.wait, 0, o.maxPollWaitMs);
  return {
    transport,
    lastEventId: query.has('lastEventId') ? query.get('lastEventId') : undefined,
    heartbeatMs,
    maxStreamMs,
    waitMs,
  };
}
