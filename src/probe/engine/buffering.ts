import type { ExperimentRecord } from './types.js';

/** What one train says about buffering. */
export interface TrainVerdict {
  detected: boolean;
  heldBytes: number;
  /** Largest delay of an event past the fastest one, ms. */
  maxLateMs: number;
  /** Events that arrived out of the train's count. */
  arrived: number;
}

/**
 * Reads a timestamped train: each event carries the server's send time; the fastest event
 * gives the clock offset plus the path's latency, so lateness is measured against it and
 * clock skew between the machines cancels out. Buffering shows as events arriving late and
 * together: `heldBytes` is the most bytes the path held back at one moment (bytes already
 * sent, adjusted by the offset, but not yet received). A train cut before any event
 * arrived was held whole.
 */
export function readTrain(
  record: ExperimentRecord,
  intervalMs: number,
  eventBytes: number,
  trainMs = intervalMs * 40,
): TrainVerdict {
  const train = record.train ?? [];
  if (train.length === 0) {
    const sentBeforeEnd =
      record.endedAtMs === null ? 0 : Math.floor(record.endedAtMs / Math.max(1, intervalMs)) + 1;
    const held = record.outcome === 'cut' || record.outcome === 'not-reached' ? sentBeforeEnd : 0;
    return { detected: held > 0, heldBytes: held * eventBytes, maxLateMs: 0, arrived: 0 };
  }
  let offset = Number.POSITIVE_INFINITY;
  for (const e of train) offset = Math.min(offset, e.arrivedAtMs - e.sentAtMs);
  let maxLateMs = 0;
  let heldBytes = 0;
  for (let i = 0; i < train.length; i++) {
    const e = train[i]!;
    maxLateMs = Math.max(maxLateMs, e.arrivedAtMs - e.sentAtMs - offset);
    // Bytes sent (by the server's clock, shifted to arrival time) before this event arrived,
    // counting from this event on: what the path was holding when it let this one through.
    let held = 0;
    for (let j = i + 1; j < train.length; j++) {
      const f = train[j]!;
      if (f.sentAtMs + offset <= e.arrivedAtMs - 1) held += f.bytes;
      else break;
    }
    heldBytes = Math.max(heldBytes, held);
  }
  // Most events late by several intervals: bytes were held. One late burst is a stall of a
  // busy machine (the client's or a hop's), not a buffer.
  const lateBy = Math.max(4 * intervalMs, 100, trainMs / 5);
  const late = train.filter((e) => e.arrivedAtMs - e.sentAtMs - offset > lateBy).length;
  const detected = late >= train.length * 0.4 && heldBytes > 0;
  return { detected, heldBytes: detected ? heldBytes : 0, maxLateMs, arrived: train.length };
}
