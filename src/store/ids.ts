import type { GapInfo } from './types.js';

/*
 * Event ids are `{epoch}:{seq}`: the epoch names one incarnation of a stream's history, so an
 * id from before a restart or an eviction is recognised as foreign (a gap), never mistaken for
 * a position in the new history.
 */

const ID = /^([0-9a-z]{1,32}):([1-9][0-9]{0,15})$/;

/** A parsed event id, or `null` when malformed. */
export function parseEventId(id: string): { epoch: string; seq: number } | null {
  const match = ID.exec(id);
  if (match === null) return null;
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { epoch: match[1]!, seq };
}

/** Formats an event id. */
export function formatEventId(epoch: string, seq: number): string {
  return `${epoch}:${seq}`;
}

/** A new random epoch: 10 base-36 characters (about 51 bits) from the platform CSPRNG. */
export function newEpoch(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value.toString(36).padStart(10, '0').slice(-10);
}

/** Where a read after `afterId` starts in a stream's retained log, and the gap if any. */
export function resumePoint(
  afterId: string | null,
  log: { epoch: string; firstSeq: number; lastSeq: number; firstId: string | null },
): { from: number; gap: GapInfo | null } {
  if (afterId === null) return { from: log.firstSeq, gap: null };
  const gapAt = (reason: GapInfo['reason']) => ({
    from: log.firstSeq,
    gap: { requested: afterId, resumeFrom: log.firstId, reason },
  });
  const parsed = parseEventId(afterId);
  if (parsed === null) return gapAt('malformed');
  if (parsed.epoch !== log.epoch) return gapAt('epoch');
  if (parsed.seq > log.lastSeq) return gapAt('unknown');
  if (parsed.seq < log.firstSeq - 1) return gapAt('evicted');
  return { from: parsed.seq + 1, gap: null };
}
