import { formatEventId, parseEventId } from '../ids.js';
import type { GapInfo, ReadResult, StoredEvent, StreamInfo } from '../types.js';

/*
 * Decoding what the scripts answer (lua.ts): the `info` tuple
 * [epoch, lastSeq, ended, bytes, firstSeq (0: none retained), length], and the read reply:
 * the info tuple, the first seq read, then each event flat as seq, time, type, data.
 */

/**
 * A stream's epochs as the scripts answer them: `current`, or `current@start;e1:s1;e2:s2`
 * after Redis restarts (lua.ts, `current_epoch`): events from seq `start` on belong to
 * `current`; earlier ones to the earlier epoch whose range holds their seq.
 */
export interface Epochs {
  current: string;
  /** First seq of the current epoch. */
  start: number;
  /** Earlier epochs, oldest first, each with its first seq. */
  prev: { epoch: string; start: number }[];
}

/** Parses the epochs field of a reply. */
export function parseEpochs(raw: string): Epochs {
  const at = raw.indexOf('@');
  if (at === -1) return { current: raw, start: 1, prev: [] };
  const [startText, ...segments] = raw.slice(at + 1).split(';');
  return {
    current: raw.slice(0, at),
    start: Number(startText),
    prev: segments.map((segment) => {
      const [epoch, start] = segment.split(':');
      return { epoch: epoch!, start: Number(start) };
    }),
  };
}

/** The epoch of the event with `seq`. */
export function epochOf(epochs: Epochs, seq: number): string {
  if (seq >= epochs.start) return epochs.current;
  for (let i = epochs.prev.length - 1; i >= 0; i--) {
    if (seq >= epochs.prev[i]!.start) return epochs.prev[i]!.epoch;
  }
  return epochs.prev[0]?.epoch ?? epochs.current;
}

/**
 * Why reading after `position` cannot continue (the contract's order: another `epoch`, then
 * `unknown`, then `evicted`), or `null` when it can; the read script applies the same rule.
 */
export function gapReason(
  epochs: Epochs,
  position: { epoch: string; seq: number },
  lastSeq: number,
  first: number,
): GapInfo['reason'] | null {
  let from: number;
  let stop: number;
  if (position.epoch === epochs.current) {
    from = epochs.start;
    stop = lastSeq;
  } else {
    const i = epochs.prev.findIndex((p) => p.epoch === position.epoch);
    if (i === -1) return 'epoch';
    from = epochs.prev[i]!.start;
    stop = (epochs.prev[i + 1]?.start ?? epochs.start) - 1;
    // Past the end of its epoch: events a restart rolled back.
    if (position.seq > stop) return 'epoch';
  }
  if (position.seq > stop || position.seq < from - 1) return 'unknown';
  if (position.seq < first - 1) return 'evicted';
  return null;
}

/** The `info` tuple. */
export type InfoReply = [string, number, number, number, number, number];
/** The read reply. */
export type ReadReply = [...InfoReply, number, ...(string | number)[]];

/** The events of a read reply, each with the id of its epoch. */
export function eventsOf(reply: ReadReply, epochs: Epochs): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (let i = 7; i + 3 < reply.length; i += 4) {
    const seq = Number(reply[i]);
    events.push({
      id: formatEventId(epochOf(epochs, seq), seq),
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
  const [raw, lastSeq, ended, bytes, firstSeq, length] = reply;
  const epochs = parseEpochs(raw);
  return {
    epoch: epochs.current,
    firstId: length > 0 ? formatEventId(epochOf(epochs, firstSeq), firstSeq) : null,
    lastId: lastSeq > 0 ? formatEventId(epochOf(epochs, lastSeq), lastSeq) : null,
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
  const [raw, lastSeq, ended, , firstSeq, length, from] = reply;
  const epochs = parseEpochs(raw);
  const epoch = epochs.current;
  const events = eventsOf(reply, epochs);
  const first = length > 0 ? firstSeq : lastSeq + 1;
  let gap: GapInfo | null = null;
  if (afterId !== null) {
    const reason = parsed === null ? 'malformed' : gapReason(epochs, parsed, lastSeq, first);
    if (reason !== null) {
      // Where the read resumed: the oldest retained event, or after a rollback the first event
      // the reader cannot have had (lua.ts, rolled_back_resume); null when none is there yet.
      const start = Math.max(from, length > 0 ? firstSeq : lastSeq + 1);
      gap = {
        requested: afterId,
        resumeFrom: start <= lastSeq ? formatEventId(epochOf(epochs, start), start) : null,
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
