import { OutlastError } from '../errors.js';
import { firstLineEnd, lastLineEnd } from './bytes.js';
import { createLineBuffer } from './line-buffer.js';
import type { SseEvent } from './types.js';
import { createRegionDecoder, decodeUtf8, utf8Length } from './utf8.js';

/*
 * An incremental parser for `text/event-stream`, written from the WHATWG HTML standard,
 * section 9.2.5 "Interpreting an event stream". Spec text is quoted as [spec].
 *
 * Design, and why it is fast:
 * - Bytes in. Line ends are found on the bytes. Only regions made of complete lines are
 *   decoded, each in one call. A line terminator (CR or LF) is ASCII, so it can never sit
 *   inside a multibyte sequence and ends any broken one: decoding a region of complete lines
 *   gives exactly what decoding the whole stream would, U+FFFD included, with no decoder state
 *   carried between regions. The decoder picks the engine's faster path per region (see
 *   createRegionDecoder): one-shot for ASCII, streaming ICU for multibyte text.
 * - The partial line at the end of a chunk is kept as bytes, in one growable buffer that never
 *   exceeds `maxLineBytes`. That is the only thing that accumulates across chunks besides the
 *   current event's data, which `maxEventBytes` bounds.
 * - Decoded regions are scanned with `String.prototype.indexOf`; the common lines (`data:`,
 *   `id:`, comments, blank lines) are recognised by their first characters and handled
 *   inline, and a one-line event is dispatched without touching the data buffer. CR and LF
 *   positions are cached so a region is never rescanned (no quadratic paths).
 */

/** Limits of the parser. Every field is optional; defaults are in {@link parserDefaults}. */
export interface ParserOptions {
  /**
   * Longest line accepted, in bytes of UTF-8, excluding its line end. A longer line is dropped
   * together with the event it belongs to, and reported as `max-line-bytes-exceeded`. It is
   * also the bound on the bytes the parser holds for an unfinished line.
   * @default 1_048_576 (1 MiB)
   */
  maxLineBytes?: number;
  /**
   * Largest event data accepted, in bytes of UTF-8 (the `data:` values joined with LF). A
   * larger event is dropped up to its blank line and reported as `max-event-bytes-exceeded`.
   * @default 8_388_608 (8 MiB)
   */
  maxEventBytes?: number;
}

/** Default limits of the parser. */
export const parserDefaults = {
  maxLineBytes: 1_048_576,
  maxEventBytes: 8_388_608,
} as const satisfies Required<ParserOptions>;

/** Where the parser delivers what it finds. */
export interface ParserCallbacks {
  /** A dispatched event. */
  onEvent: (event: SseEvent) => void;
  /**
   * A comment line (starting with `:`), without the colon and one leading space. Servers send
   * comments as heartbeats; a client watches them to know the connection is alive.
   */
  onComment?: (comment: string) => void;
  /** A valid `retry:` field: the reconnection time the server asks for, in milliseconds. */
  onRetry?: (ms: number) => void;
  /**
   * A limit was exceeded (`max-line-bytes-exceeded`, `max-event-bytes-exceeded`). The offending
   * event is dropped and parsing goes on. Without this callback, `feed` throws the first such
   * error after it has processed the whole chunk.
   */
  onError?: (error: OutlastError) => void;
}

/** An incremental SSE parser: feed it bytes as they arrive, in chunks of any size. */
export interface SseParser {
  /** Parses a chunk. Chunk boundaries may fall anywhere, even inside a UTF-8 sequence. */
  feed(chunk: Uint8Array): void;
  /**
   * Forgets everything of the current stream, for a new connection: the next byte is the
   * first of a stream again (a BOM is stripped once more). The last event id is set to
   * `options.lastEventId`, default `''`.
   */
  reset(options?: { lastEventId?: string }): void;
  /** [spec] "the last event ID string": the id a reconnect would send as `Last-Event-ID`. */
  readonly lastEventId: string;
  /**
   * Bytes held right now: the unfinished line plus the current event's data (UTF-8). Never
   * more than `maxLineBytes + maxEventBytes`, whatever the input.
   */
  readonly bufferedBytes: number;
  /**
   * Bytes the parser has copied into its own buffers or decoded to text since it was created:
   * a diagnostic. Divided by the bytes fed, it stays a small constant however the input is
   * cut (bench:wire prints it; a property test holds it).
   */
  readonly copiedBytes: number;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new OutlastError('invalid-option', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Creates an incremental SSE parser. See {@link ParserCallbacks} and {@link ParserOptions}. */
export function createParser(callbacks: ParserCallbacks, options: ParserOptions = {}): SseParser {
  const maxLineBytes = checkLimit(
    'maxLineBytes',
    options.maxLineBytes ?? parserDefaults.maxLineBytes,
  );
  const maxEventBytes = checkLimit(
    'maxEventBytes',
    options.maxEventBytes ?? parserDefaults.maxEventBytes,
  );
  const { onEvent, onComment, onRetry } = callbacks;
  let firstError: OutlastError | undefined;
  const report = (error: OutlastError): void => {
    if (callbacks.onError) callbacks.onError(error);
    else firstError ??= error;
  };

  const decodeRegion = createRegionDecoder();
  // The unfinished line, never past maxLineBytes.
  const pending = createLineBuffer(maxLineBytes);
  // The previous chunk ended in CR: a leading LF of the next chunk belongs to that CRLF.
  let skipLF = false;
  // [spec] "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are present."
  // Number of BOM bytes matched so far at the start of the stream; -1 once decided.
  let bomMatched = 0;
  // Recovery after a limit: drop bytes up to the next line end, and/or lines up to the next
  // blank line (the end of the offending event).
  let droppingLine = false;
  let droppingEvent = false;
  // UTF-8 size of the line being processed when it is known (a line finished from `pending`),
  // else -1. Bytes decoded from complete-line regions so far (copiedBytes, with pending's).
  let lineBytes = -1;
  let copied = 0;

  // [spec] "the data buffer, the event type buffer, and the last event ID buffer".
  let data = '';
  let hasData = false;
  // Exact UTF-8 size of `data`, tracked only once the cheap bound (3 bytes per UTF-16 unit)
  // could exceed maxEventBytes; -1 until then. Keeps ordinary events free of byte counting.
  let dataBytes = -1;
  let eventType = '';
  let lastEventIdBuffer = '';
  let lastEventId = '';
  let blockId: string | undefined;

  function clearEvent(): void {
    data = '';
    hasData = false;
    dataBytes = -1;
    eventType = '';
    blockId = undefined;
  }

  function dropEvent(error: OutlastError): void {
    report(error);
    clearEvent();
    droppingEvent = true;
  }

  // [spec] "When the user agent is required to dispatch the event, the user agent must process
  // the data buffer, the event type buffer, and the last event ID buffer".
  function dispatch(): void {
    if (droppingEvent) {
      droppingEvent = false;
      clearEvent();
      return;
    }
    // [spec] "1. Set the last event ID string of the event source to the value of the last
    // event ID buffer. The buffer does not get reset, so the last event ID string of the event
    // source remains set to this value until the next time it is set by the server."
    lastEventId = lastEventIdBuffer;
    // [spec] "2. If the data buffer is an empty string, set the data buffer and the event type
    // buffer to the empty string and return."
    if (!hasData) {
      eventType = '';
      blockId = undefined;
      return;
    }
    // [spec] "3. If the data buffer's last character is a U+000A LINE FEED (LF) character, then
    // remove the last character from the data buffer." We join lines with LF instead of
    // appending one after each, which gives the same string without the copy.
    const event: SseEvent = {
      // [spec] "Initialize event's type attribute to "message" [...] If the event type buffer
      // has a value other than the empty string, change the type of the newly created event to
      // equal the value of the event type buffer."
      type: eventType === '' ? 'message' : eventType,
      data,
      lastEventId,
      id: blockId,
    };
    // [spec] "5. Set the data buffer and the event type buffer to the empty string."
    clearEvent();
    onEvent(event);
  }

  // `valueBytes`: the UTF-8 size of `value` when the caller knows it, else -1.
  function appendData(value: string, valueBytes: number): void {
    const first = !hasData;
    if (first) {
      data = value;
      hasData = true;
    } else {
      data = `${data}\n${value}`;
    }
    if (dataBytes >= 0) {
      dataBytes += knownBytes(value, valueBytes) + 1;
    } else if (data.length * 3 > maxEventBytes) {
      dataBytes = first ? knownBytes(value, valueBytes) : utf8Length(data);
    } else {
      return;
    }
    if (dataBytes > maxEventBytes) {
      dropEvent(
        new OutlastError(
          'max-event-bytes-exceeded',
          `event data exceeds maxEventBytes (${maxEventBytes} bytes); the event was dropped`,
        ),
      );
    }
  }

  // [spec] "id: If the field value does not contain U+0000 NULL, then set the last event ID
  // buffer to the field value. Otherwise, ignore the field." Ids are short: a loop beats a
  // native indexOf call here.
  function setId(s: string, from: number, end: number): void {
    let i = from;
    while (i < end && s.charCodeAt(i) !== 0) i++;
    if (i === end) {
      lastEventIdBuffer = from === end ? '' : s.slice(from, end);
      blockId = lastEventIdBuffer;
    }
  }

  // [spec] "If the line is empty (a blank line) -> Dispatch the event. If the line starts with
  // a U+003A COLON character (:) -> Ignore the line. If the line contains a U+003A COLON
  // character (:) -> Collect the characters on the line before the first U+003A COLON
  // character (:), and let field be that string. Collect the characters on the line after the
  // first U+003A COLON character (:), and let value be that string. If value starts with a
  // U+0020 SPACE character, remove it from value. Process the field [...]. Otherwise, the
  // string is not empty but does not contain a U+003A COLON character (:) -> Process the field
  // using the whole line as the field name, and the empty string as the field value."
  function processLine(s: string, start: number, end: number): void {
    if (start === end) {
      dispatch();
      return;
    }
    if (droppingEvent) return;
    const c0 = s.charCodeAt(start);
    if (c0 === COLON) {
      // Comments are ignored by the spec; we surface them (heartbeats).
      if (onComment !== undefined) {
        onComment(s.slice(s.charCodeAt(start + 1) === SPACE ? start + 2 : start + 1, end));
      }
      return;
    }
    // Fast path for the most common field, `data:`.
    if (
      c0 === 100 &&
      end - start >= 5 &&
      s.charCodeAt(start + 1) === 97 &&
      s.charCodeAt(start + 2) === 116 &&
      s.charCodeAt(start + 3) === 97 &&
      s.charCodeAt(start + 4) === COLON
    ) {
      const from = s.charCodeAt(start + 5) === SPACE ? start + 6 : start + 5;
      // What precedes the value is ASCII, so its characters are its bytes.
      appendData(s.slice(from, end), lineBytes >= 0 ? lineBytes - (from - start) : -1);
      return;
    }
    if (c0 === 105 && s.charCodeAt(start + 1) === 100 && s.charCodeAt(start + 2) === COLON) {
      setId(s, s.charCodeAt(start + 3) === SPACE ? start + 4 : start + 3, end);
      return;
    }
    let colon = s.indexOf(':', start);
    if (colon === -1 || colon > end) colon = end;
    const field = s.slice(start, colon);
    let valueStart = colon + 1;
    if (valueStart < end && s.charCodeAt(valueStart) === SPACE) valueStart++;
    const value = valueStart < end ? s.slice(valueStart, end) : '';
    // [spec] "If the field name is ..." (unknown field names are ignored).
    switch (field) {
      case 'event':
        // [spec] "event: Set the event type buffer to field value."
        eventType = value;
        return;
      case 'data':
        // Reached only for a line `data` without a colon (the fast path took the rest).
        appendData(value, -1);
        return;
      case 'id':
        // Reached only for a line `id` without a colon (the fast path took the rest).
        setId(s, end, end);
        return;
      case 'retry':
        // [spec] "retry: If the field value consists of only ASCII digits, then interpret the
        // field value as an integer in base ten, and set the event stream's reconnection time
        // to that integer. Otherwise, ignore the field."
        if (onRetry !== undefined && value !== '' && isAsciiDigits(value)) {
          onRetry(Number.parseInt(value, 10));
        }
        return;
    }
  }

  // Parses a decoded region made of complete lines; it ends with CR or LF.
  function parseRegion(s: string): void {
    if (s.indexOf('\r') === -1) parseLfRegion(s);
    else parseMixedRegion(s);
  }

  // LF line ends only: the common case on the wire, so the hot loop. The common lines
  // (`data:`, `id:`, comments, blank lines) are recognised by their first characters and
  // handled inline; anything else goes through processLine.
  function parseLfRegion(s: string): void {
    let pos = 0;
    let lf = s.indexOf('\n');
    while (lf !== -1) {
      const c0 = s.charCodeAt(pos);
      if (pos === lf) {
        dispatch();
      } else if (droppingEvent) {
        // Skipping the rest of an event that passed a limit.
      } else if (
        c0 === 100 &&
        s.charCodeAt(pos + 4) === COLON &&
        s.charCodeAt(pos + 1) === 97 &&
        s.charCodeAt(pos + 2) === 116 &&
        s.charCodeAt(pos + 3) === 97 &&
        pos + 4 < lf
      ) {
        const value = s.slice(s.charCodeAt(pos + 5) === SPACE ? pos + 6 : pos + 5, lf);
        if (!hasData && s.charCodeAt(lf + 1) === LF && value.length * 3 <= maxEventBytes) {
          // A one-line event: `data: x` then the blank line. Dispatch it directly.
          lastEventId = lastEventIdBuffer;
          const event: SseEvent = {
            type: eventType === '' ? 'message' : eventType,
            data: value,
            lastEventId,
            id: blockId,
          };
          if (eventType !== '') eventType = '';
          blockId = undefined;
          onEvent(event);
          lf++;
        } else {
          appendData(value, -1);
        }
      } else if (c0 === 105 && s.charCodeAt(pos + 1) === 100 && s.charCodeAt(pos + 2) === COLON) {
        setId(s, s.charCodeAt(pos + 3) === SPACE ? pos + 4 : pos + 3, lf);
      } else if (c0 === COLON) {
        if (onComment !== undefined) {
          onComment(s.slice(s.charCodeAt(pos + 1) === SPACE ? pos + 2 : pos + 1, lf));
        }
      } else {
        processLine(s, pos, lf);
      }
      pos = lf + 1;
      lf = s.indexOf('\n', pos);
    }
  }

  // Mixed line ends. Cache the next CR and LF positions so each is searched once.
  function parseMixedRegion(s: string): void {
    const n = s.length;
    let pos = 0;
    let cr = s.indexOf('\r');
    let lf = s.indexOf('\n');
    while (pos < n) {
      if (cr !== -1 && cr < pos) cr = s.indexOf('\r', pos);
      if (lf !== -1 && lf < pos) lf = s.indexOf('\n', pos);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break; // cannot happen: a region ends with a line end
      processLine(s, pos, end);
      // [spec] end-of-line = ( cr lf / cr / lf ): a CR directly followed by LF is one line end.
      pos = end === cr && lf === end + 1 ? end + 2 : end + 1;
    }
  }

  // A region larger than maxLineBytes may hold an over-long line. Lines are measured on the
  // raw bytes (an invalid byte decodes to a 3-byte U+FFFD, so decoded text would count
  // differently depending on where chunks were cut), then decoded one by one. Rare: only
  // chunks bigger than the line limit take this path.
  function parseLargeRegion(chunk: Uint8Array, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      let eol = pos;
      while (eol < end) {
        const b = chunk[eol];
        if (b === LF || b === CR) break;
        eol++;
      }
      if (eol - pos > maxLineBytes) lineOverflow();
      else if (eol === pos) dispatch();
      else {
        const line = decodeUtf8(chunk, pos, eol);
        processLine(line, 0, line.length);
      }
      pos = chunk[eol] === CR && eol + 1 < end && chunk[eol + 1] === LF ? eol + 2 : eol + 1;
    }
  }

  function lineOverflow(): void {
    dropEvent(
      new OutlastError(
        'max-line-bytes-exceeded',
        `a line exceeds maxLineBytes (${maxLineBytes} bytes); its event was dropped`,
      ),
    );
  }

  // The line being collected overflowed: drop it and its event; skip to its line end.
  function pendingOverflow(): void {
    pending.clear();
    lineOverflow();
    droppingLine = true;
  }

  function feed(chunk: Uint8Array): void {
    const len = chunk.length;
    let start = 0;
    if (bomMatched >= 0) {
      // Match EF BB BF across chunk boundaries; bytes that turn out not to be a BOM are data.
      while (start < len && bomMatched < 3 && chunk[start] === BOM[bomMatched]) {
        bomMatched++;
        start++;
      }
      if (bomMatched === 3) bomMatched = -1;
      else if (start < len) {
        if (bomMatched > 0) pending.append(BOM, 0, bomMatched);
        bomMatched = -1;
      } else return;
    }
    if (skipLF && start < len) {
      skipLF = false;
      if (chunk[start] === LF) start++;
    }
    if (droppingLine || pending.size > 0) {
      // Finish the line that started in an earlier chunk.
      const end = firstLineEnd(chunk, start, len);
      if (droppingLine) {
        if (end === len) return;
        droppingLine = false;
      } else if (!pending.append(chunk, start, end)) {
        pendingOverflow();
        if (end === len) return;
        droppingLine = false;
      } else {
        if (end === len) return;
        const { text: line, bytes } = pending.take();
        // The line's size is known here: spare appendData from measuring a long line.
        lineBytes = bytes;
        processLine(line, 0, line.length);
        lineBytes = -1;
      }
      start = end + 1;
      if (chunk[end] === CR) {
        if (start === len) skipLF = true;
        else if (chunk[start] === LF) start++;
      }
    }
    if (start < len) {
      // The rest: complete lines up to the last line end, then an unfinished tail.
      const last = lastLineEnd(chunk, start, len);
      if (last >= start) {
        if (last + 1 - start > maxLineBytes) parseLargeRegion(chunk, start, last + 1);
        else parseRegion(decodeRegion(chunk, start, last + 1));
        copied += last + 1 - start;
        if (last === len - 1 && chunk[last] === CR) skipLF = true;
      }
      if (last + 1 < len && !pending.append(chunk, last + 1, len)) pendingOverflow();
    }
    if (firstError !== undefined) {
      const error = firstError;
      firstError = undefined;
      throw error;
    }
  }

  function reset(resetOptions: { lastEventId?: string } = {}): void {
    pending.clear();
    skipLF = false;
    bomMatched = 0;
    droppingLine = false;
    droppingEvent = false;
    clearEvent();
    lastEventId = lastEventIdBuffer = resetOptions.lastEventId ?? '';
    firstError = undefined;
  }

  return {
    feed,
    reset,
    get lastEventId() {
      return lastEventId;
    },
    get bufferedBytes() {
      return pending.size + (hasData ? utf8Length(data) : 0);
    },
    get copiedBytes() {
      return copied + pending.copied;
    },
  };
}

const BOM = new Uint8Array([0xef, 0xbb, 0xbf]);
// The UTF-8 size of `value`, given the raw size of the bytes it was decoded from (or -1).
// Where invalid bytes were replaced, U+FFFD counts 3 bytes, as it does wherever the chunks
// were cut: measure instead. On a one-byte string the search returns at once.
function knownBytes(value: string, rawBytes: number): number {
  return rawBytes >= 0 && value.indexOf('\uFFFD') === -1 ? rawBytes : utf8Length(value);
}

function isAsciiDigits(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
