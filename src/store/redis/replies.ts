import { formatEventId, parseEventId } from '../ids.js';
import type { GapInfo, ReadResult, StoredEvent, StreamInfo } from '../types.js';

/*
 * Decoding what the scripts answer (lua.ts): the `info` tuple
 * [epoch, lastSeq, ended, bytes, firstSeq (0: none retained), length], and the read reply:
 * the info tuple, the first seq read, then each event flat as seq, time, type, data.
 */

/** The `info` tuple. */
export type InfoReply = [string, number, number, number, number, number];
/** The read reply. */
export type ReadReply = [...InfoReply, number, ...(string | number)[]];

/** The events of a read reply, with ids of `epoch`. */
export function eventsOf(reply: ReadReply, epoch: string): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (let i = 7; i + 3 < reply.length; i += 4) {
    const seq = Number(reply[i]);
    events.push({
      id: formatEventId(epoch, seq),
      seq,
      event: String(reply[i + 2]),
      data: String(reply[i + 3]),
      time: Number(reply[i + 1]),
    });
  }
  return events;
}

/** The stream facts of an info tuple or read reply. */
export function infoOf(reply: InfoReply | ReadReply): StreamInfo {
  const [epoch, lastSeq, ended, bytes, firstSeq, length] = reply;
  return {
    epoch,
    firstId: length > 0 ? formatEventId(epoch, firstSeq) : null,
    lastId: lastSeq > 0 ? formatEventId(epoch, lastSeq) : null,
    length,
    bytes,
    ended: ended === 1,
  };
}

/** The position a read asks for, as the read script takes it. */
export function readPosition(afterId: string | null) {
  const parsed = afterId === null ? null : parseEventId(afterId);
  return { parsed, epoch: parsed?.epoch ?? '', seq: parsed === null ? '' : String(parsed.seq) };
}

/**
 * The contract's read result, with the same resume rules as the memory store: `malformed`,
 * then another `epoch`, then `unknown` (newer than anything appended), then `evicted`.
 */
export function readResultOf(
  reply: ReadReply,
  afterId: string | null,
  parsed: { epoch: string; seq: number } | null,
): ReadResult & { lastSeq: number } {
  const [epoch, lastSeq, ended, , firstSeq, length, from] = reply;
  const events = eventsOf(reply, epoch);
  const first = length > 0 ? firstSeq : lastSeq + 1;
  let gap: GapInfo | null = null;
  if (afterId !== null) {
    const reason =
      parsed === null
        ? 'malformed'
        : parsed.epoch !== epoch
          ? 'epoch'
          : parsed.seq > lastSeq
            ? 'unknown'
            : parsed.seq < first - 1
              ? 'evicted'
              : null;
    if (reason !== null) {
      gap = {
        requested: afterId,
        resumeFrom: length > 0 ? formatEventId(epoch, firstSeq) : null,
        reason,
      };
    }
  }
  const reached = (events.at(-1)?.seq ?? from - 1) >= lastSeq;
  return {
    events,
    resume: afterId === null ? 'fresh' : gap === null ? 'recovered' : 'gap',
    gap,
    epoch,
    ended: ended === 1,
    done: ended === 1 && reached,
    lastSeq,
  };
}
