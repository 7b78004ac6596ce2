import { decodePiece } from './utf8.js';

/*
 * The unfinished line: bytes that arrived after the chunk's last line end, waiting for the
 * rest of their line. A long line may come in thousands of small chunks (an LLM answer with
 * an image, a large JSON result, a report over TCP segments), the input on which SSE parsers
 * have gone quadratic. Here every byte is copied at most once into a small buffer and decoded
 * once: once PIECE bytes are held they are decoded (cut on a UTF-8 sequence boundary) and
 * their text kept as a rope, so nothing is ever re-copied as the line grows, and a chunk of
 * PIECE bytes or more is decoded straight from the caller's bytes.
 */

// Held bytes are decoded once there are this many. 16-64 KiB is where the engines' decoders
// are fastest per byte (their call cost is spread; larger calls lose cache locality).
const PIECE = 65_536;

/** Where a chunk may be cut without splitting a UTF-8 sequence that could still complete. */
function sequenceCut(bytes: Uint8Array, start: number, end: number): number {
  const min = Math.max(start, end - 4);
  let i = end - 1;
  while (i >= min && (bytes[i]! & 0xc0) === 0x80) i--;
  if (i < min) return end; // a run of continuation bytes: invalid, no sequence to keep whole
  const lead = bytes[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  // An unfinished sequence moves to the next piece. Cutting before a lead byte never changes
  // the decoded text: whatever precedes it decodes alike whether or not the lead byte follows.
  return i + need > end ? i : end;
}

export interface LineBuffer {
  /** Adds `bytes[start, end)`; false (and nothing added) if the line would pass its limit. */
  append(bytes: Uint8Array, start: number, end: number): boolean;
  /** The finished line's text and its size in bytes; the buffer is empty afterwards. */
  take(): { text: string; bytes: number };
  /** Drops what is held. */
  clear(): void;
  /** Bytes of the unfinished line held (raw bytes, decoded or not). */
  readonly size: number;
  /** Bytes copied or decoded so far. */
  readonly copied: number;
}

/** An unfinished-line holder bounded by `maxLineBytes`. */
export function createLineBuffer(maxLineBytes: number): LineBuffer {
  let buffer = new Uint8Array(256);
  let length = 0;
  // Decoded pieces of the line so far, and the number of raw bytes they came from.
  let text = '';
  let textBytes = 0;
  let copied = 0;

  function decodeHeld(): void {
    const cut = sequenceCut(buffer, 0, length);
    text += decodePiece(buffer, 0, cut);
    copied += cut;
    textBytes += cut;
    // At most three bytes of an unfinished sequence move to the front.
    buffer.copyWithin(0, cut, length);
    length -= cut;
  }

  function copyIn(bytes: Uint8Array, start: number, end: number): void {
    const need = length + (end - start);
    if (need > buffer.length) {
      let size = buffer.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(buffer.subarray(0, length));
      copied += length;
      buffer = grown;
    }
    if (end - start <= 32) {
      // Tiny appends (bytes trickling in): a loop beats allocating a subarray view.
      for (let i = start, j = length; i < end; i++, j++) buffer[j] = bytes[i]!;
    } else {
      buffer.set(bytes.subarray(start, end), length);
    }
    copied += end - start;
    length = need;
  }

  return {
    append(bytes, start, end) {
      if (textBytes + length + (end - start) > maxLineBytes) return false;
      if (length === 0 && end - start >= PIECE) {
        // A big chunk of a long line: decode it in place, keep only an unfinished sequence.
        const cut = sequenceCut(bytes, start, end);
        text += decodePiece(bytes, start, cut);
        copied += cut - start;
        textBytes += cut - start;
        start = cut;
      }
      copyIn(bytes, start, end);
      if (length >= PIECE) decodeHeld();
      return true;
    },
    take() {
      const bytes = textBytes + length;
      const tail = length === 0 ? '' : decodePiece(buffer, 0, length);
      copied += length;
      const line = text === '' ? tail : text + tail;
      text = '';
      textBytes = 0;
      length = 0;
      if (buffer.length > 2 * PIECE) buffer = new Uint8Array(256);
      return { text: line, bytes };
    },
    clear() {
      text = '';
      textBytes = 0;
      length = 0;
      if (buffer.length > 2 * PIECE) buffer = new Uint8Array(256);
    },
    get size() {
      return textBytes + length;
    },
    get copied() {
      return copied;
    },
  };
}
