import { type HopKnobs, resolveHops } from '../../src/proxy/index.js';

/** What a chain of presets should do to the probe, at a time scale (ms; null: none). */
export interface Expected {
  sse: { idleMs: number | null; totalMs: number | null; firstByteMs: number | null };
  websocket: { idleMs: number | null; totalMs: number | null };
  wsRefused: boolean;
  buffered: boolean;
  fixedByHeaders: boolean | null;
  /** The longest limit the probe should find, ms. */
  longestMs: number;
}

const min = (values: Array<number | null>): number | null => {
  const v = values.filter((x): x is number => x !== null);
  return v.length === 0 ? null : Math.min(...v);
};

/** Whether an SSE response (requested with gzip) is held by a hop, and whether it opts out. */
function buffering(k: HopKnobs): { held: boolean; optOut: boolean } {
  if (!k.holdWhole && k.bufferBytes === null) return { held: false, optOut: false };
  if (k.bufferTypes !== null && !k.bufferTypes.includes('text/event-stream'))
    return { held: false, optOut: false };
  return { held: true, optOut: k.bufferOptOut.length > 0 };
}

/**
 * The truth the probe is graded against, read from the proxy's own knobs: the shortest clock
 * of each kind over the hops, scaled; an idle clock no shorter than the total clock cannot be
 * seen (the total clock cuts first).
 */
export function expectedLimits(
  preset: string,
  scale: number,
  maxWaitMs = Number.POSITIVE_INFINITY,
): Expected {
  const hops = resolveHops({ target: 'http://127.0.0.1:1', preset }).map((h) => h.knobs);
  const sc = (v: number | null): number | null => (v === null ? null : v * scale);
  const inherit = (v: number | null | 'inherit', base: number | null): number | null =>
    v === 'inherit' ? base : v;
  let sseIdle = sc(min(hops.map((k) => k.idleMs)));
  const sseTotal = sc(min(hops.map((k) => (k.totalMode === 'timer' ? k.totalMs : null))));
  const firstByte = sc(min(hops.flatMap((k) => [k.firstByteMs, k.idleMs, k.totalMs])));
  if (sseIdle !== null && sseTotal !== null && sseIdle >= sseTotal * 0.95) sseIdle = null;
  const wsRefused = hops.some((k) => k.websocket === 'refuse');
  let wsIdle = wsRefused ? null : sc(min(hops.map((k) => inherit(k.websocketIdleMs, k.idleMs))));
  const wsTotal = wsRefused
    ? null
    : sc(min(hops.map((k) => inherit(k.websocketTotalMs, k.totalMs))));
  if (wsIdle !== null && wsTotal !== null && wsIdle >= wsTotal * 0.95) wsIdle = null;
  const held = hops.map(buffering).filter((b) => b.held);
  // Past max-wait the probe must say "not reached": null.
  const cap = (v: number | null): number | null => (v !== null && v > maxWaitMs ? null : v);
  sseIdle = cap(sseIdle);
  wsIdle = cap(wsIdle);
  const all = [sseIdle, sseTotal, firstByte, wsIdle, wsTotal]
    .map(cap)
    .filter((x): x is number => x !== null);
  return {
    sse: { idleMs: sseIdle, totalMs: cap(sseTotal), firstByteMs: cap(firstByte) },
    websocket: { idleMs: wsIdle, totalMs: cap(wsTotal) },
    wsRefused,
    buffered: held.length > 0,
    fixedByHeaders: held.length === 0 ? null : held.every((b) => b.optOut),
    longestMs: all.length === 0 ? 0 : Math.max(...all),
  };
}

/** The probe's accuracy goal: within 5 % or 100 ms, whichever is larger. */
export function withinGoal(measured: number | null, truth: number | null): boolean {
  if (truth === null || measured === null) return truth === measured;
  return Math.abs(measured - truth) <= Math.max(100, 0.05 * truth);
}
