import { formatEventId } from '../ids.js';
import type { StoredEvent } from '../types.js';

/**
 * A live notification as published by the scripts (lua.ts), one per channel message:
 *   e|{epoch}|{seq}|{time}|{typeBytes}|{type}{data}   an appended event, carried whole so
 *                                                      readers elsewhere need no extra read
 *   n|{epoch}|{lastSeq}|                              the stream ended after lastSeq
 *   x|{epoch}|0|                                      the stream was deleted
 * The type's length is in bytes, so the message is parsed as bytes, never split on text.
 */
export type Notice =
  | { kind: 'event'; epoch: string; event: StoredEvent }
  | { kind: 'end'; epoch: string; lastSeq: number }
  | { kind: 'deleted'; epoch: string };

const BAR = 0x7c;

/** Parses one channel message; `null` when it is not one of ours. */
export function parseNotice(message: Buffer): Notice | null {
  const kind = message[0];
  const a = message.indexOf(BAR, 1);
  const b = message.indexOf(BAR, a + 1);
  const c = message.indexOf(BAR, b + 1);
  if (a !== 1 || b < 0 || c < 0) return null;
  const epoch = message.toString('latin1', a + 1, b);
  const seq = Number(message.toString('latin1', b + 1, c));
  if (!Number.isSafeInteger(seq)) return null;
  if (kind === 0x6e /* n */) return { kind: 'end', epoch, lastSeq: seq };
  if (kind === 0x78 /* x */) return { kind: 'deleted', epoch };
  if (kind !== 0x65 /* e */) return null;
  const d = message.indexOf(BAR, c + 1);
  const e = message.indexOf(BAR, d + 1);
  if (d < 0 || e < 0) return null;
  const time = Number(message.toString('latin1', c + 1, d));
  const typeBytes = Number(message.toString('latin1', d + 1, e));
  const typeEnd = e + 1 + typeBytes;
  if (!Number.isSafeInteger(typeBytes) || typeEnd > message.length) return null;
  return {
    kind: 'event',
    epoch,
    event: {
      id: formatEventId(epoch, seq),
      seq,
      event: message.toString('utf8', e + 1, typeEnd),
      data: message.toString('utf8', typeEnd),
      time,
    },
  };
}
