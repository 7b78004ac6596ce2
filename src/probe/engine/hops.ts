import type { ProbeReport } from './types.js';

/** The limits compared across layers. */
export const limitKeys = [
  'sse.firstByteMs',
  'sse.idleMs',
  'sse.totalMs',
  'websocket.idleMs',
  'websocket.totalMs',
] as const;

/** One limit across the layers. */
export interface HopLimit {
  limit: (typeof limitKeys)[number];
  /** Its value at each URL, in the order given (outermost first). */
  values: Array<number | null>;
  /** Where each distinct limit first appears: the index of the URL (innermost that shows it). */
  appearsAt: Array<{ index: number; valueMs: number }>;
}

/** Reads one limit out of a report. */
export function limitOf(report: ProbeReport, key: (typeof limitKeys)[number]): number | null {
  const [transport, name] = key.split('.') as ['sse' | 'websocket', string];
  return (report.limits[transport] as Record<string, number | null>)[name] ?? null;
}

/**
 * Attributes each limit to the layer where it first appears ("pop one piece out"): the URLs
 * reach the same probe server through fewer and fewer layers (the public name, the load
 * balancer, the service), outermost first. Walking inwards-out, a limit that shows at a
 * URL but not at the next inner one (or is clearly shorter there) belongs to the hop
 * between the two.
 */
export function attributeHops(reports: readonly ProbeReport[]): HopLimit[] {
  return limitKeys.map((limit) => {
    const values = reports.map((r) => limitOf(r, limit));
    const appearsAt: HopLimit['appearsAt'] = [];
    let inner: number | null = null;
    for (let i = values.length - 1; i >= 0; i--) {
      const v = values[i] ?? null;
      if (v !== null && (inner === null || v < inner * 0.95 - 50))
        appearsAt.push({ index: i, valueMs: v });
      if (v !== null) inner = inner === null ? v : Math.min(inner, v);
    }
    return { limit, values, appearsAt };
  });
}
