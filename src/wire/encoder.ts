import { OutlastError } from '../errors.js';
import type { SseEventInit } from './types.js';

/*
 * [spec] HTML "Server-sent events", 9.2.5 Interpreting an event stream / 9.2.6 Authoring notes.
 * The stream is UTF-8 text; lines end in CRLF, LF or CR. An event is a block of `field: value`
 * lines ended by a blank line. We always emit LF line ends and one space after the colon.
 */

const LINE_BREAK = /\r\n|\r|\n/;
const LINE_BREAKS = /\r\n|\r|\n/g;
const HAS_CR_OR_LF = /[\r\n]/;

const encoder = new TextEncoder();

/**
 * Event data as JSON text. `JSON.stringify` throws a bare `TypeError` on a cycle or a BigInt
 * and returns `undefined` for a function or a symbol: each becomes `invalid-field`.
 * @throws {OutlastError} `invalid-field` naming why, with the original error as `cause`.
 */
export function dataToJson(data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (error) {
    throw new OutlastError(
      'invalid-field',
      `event data is not JSON-serialisable (${(error as Error).message.split('\n')[0]}); send plain data: no cycles, no BigInt`,
      { cause: error },
    );
  }
  if (text === undefined) {
    throw new OutlastError(
      'invalid-field',
      `event data is not JSON-serialisable (a ${typeof data}); send a string, number, boolean, array or object`,
    );
  }
  return text;
}

/**
 * Serialises one event to its text form (ending with the blank line that dispatches it).
 *
 * @throws {OutlastError} `invalid-field` when `id` or `event` holds CR or LF (they would end
 *   the line and inject fields) or `id` holds NUL (a client ignores such an id, which would
 *   silently break resume); `invalid-retry` when `retry` is not a non-negative integer.
 */
export function formatEvent(event: SseEventInit): string {
  let out = '';
  if (event.id !== undefined) {
    if (HAS_CR_OR_LF.test(event.id) || event.id.includes('\0')) {
      throw new OutlastError(
        'invalid-field',
        `event id ${JSON.stringify(event.id)} contains CR, LF or NUL; clients ignore or split such ids`,
      );
    }
    // [spec] the id only becomes the last event id when the block is dispatched (its blank
    // line), so field order inside a block does not matter. We write id, event, retry, then
    // data: the conventional order, and the one the parser's fast paths expect.
    out += `id: ${event.id}\n`;
  }
  if (event.event !== undefined) {
    if (HAS_CR_OR_LF.test(event.event)) {
      throw new OutlastError(
        'invalid-field',
        `event type ${JSON.stringify(event.event)} contains CR or LF; an event type is one line`,
      );
    }
    out += `event: ${event.event}\n`;
  }
  if (event.retry !== undefined) {
    if (!Number.isSafeInteger(event.retry) || event.retry < 0) {
      throw new OutlastError(
        'invalid-retry',
        `retry must be a non-negative integer number of milliseconds, got ${event.retry}`,
      );
    }
    // [spec] "If the field value consists of only ASCII digits, then interpret the field value
    // as an integer in base ten, and set the event stream's reconnection time to that integer."
    out += `retry: ${event.retry}\n`;
  }
  if (event.data !== undefined) {
    const text = typeof event.data === 'string' ? event.data : dataToJson(event.data);
    // [spec] "If the field name is 'data': Append the field value to the data buffer, then
    // append a single U+000A LINE FEED (LF) character to the data buffer." So each line of the
    // payload travels as its own `data:` line; CR, LF and CRLF inside the data all split
    // (the client rejoins them with LF).
    out +=
      text.indexOf('\n') === -1 && text.indexOf('\r') === -1
        ? `data: ${text}\n`
        : `data: ${text.replace(LINE_BREAKS, '\ndata: ')}\n`;
  }
  return `${out}\n`;
}

/**
 * Serialises a comment. Comments are ignored by `EventSource` but they are bytes on the wire:
 * that is what keeps idle clocks from firing (a heartbeat). A multi-line text becomes one
 * comment line per line. The result ends with LF only: a comment never dispatches an event.
 */
export function formatComment(text = ''): string {
  if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
    return text === '' ? ':\n' : `: ${text}\n`;
  }
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += line === '' ? ':\n' : `: ${line}\n`;
  return out;
}

/** {@link formatEvent} as UTF-8 bytes. */
export function encodeEvent(event: SseEventInit): Uint8Array {
  return encoder.encode(formatEvent(event));
}

/** {@link formatComment} as UTF-8 bytes. */
export function encodeComment(text = ''): Uint8Array {
  return encoder.encode(formatComment(text));
}
