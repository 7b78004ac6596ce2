/*
 * UTF-8 helpers for the parser. Decoding follows the WHATWG Encoding standard's "UTF-8
 * decode": invalid sequences become U+FFFD (one per maximal subpart). Both decoders below do
 * exactly that; the property tests hold them to `TextDecoder`.
 */

// ignoreBOM: a BOM inside the stream is data (the parser strips the stream's first one).
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
const pieceDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
// Up to this many bytes, ASCII is decoded in JS: cheaper than any native call's fixed cost.
const SHORT = 24;

interface NodeBufferLike {
  utf8Slice(start: number, end: number): string;
  asciiSlice(start: number, end: number): string;
}
type BufferFrom = (buffer: ArrayBufferLike, byteOffset: number, length: number) => NodeBufferLike;

// On Node, Buffer#utf8Slice decodes short slices in about half the time of
// TextDecoder#decode (less per-call overhead). Browsers take the TextDecoder path.
const bufferFrom: BufferFrom | undefined = (() => {
  const B = (globalThis as { Buffer?: { from?: unknown; prototype?: { utf8Slice?: unknown } } })
    .Buffer;
  if (typeof B?.from !== 'function' || typeof B.prototype?.utf8Slice !== 'function') {
    return undefined;
  }
  return B.from.bind(B) as BufferFrom;
})();

// Node's `buffer.isAscii` (simdutf, tens of GB/s). With it, ASCII is decoded by asciiSlice,
// which copies bytes into a one-byte string: about ten times faster than utf8Slice, which
// validates character by character. Reached through process.getBuiltinModule so that this
// module imports nothing from Node (browsers, Deno and Workers take the other paths).
const isAscii: ((bytes: NodeBufferLike) => boolean) | undefined = (() => {
  if (bufferFrom === undefined) return undefined;
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  const mod = get('buffer') as { isAscii?: unknown } | undefined;
  return typeof mod?.isAscii === 'function'
    ? (mod.isAscii as (bytes: NodeBufferLike) => boolean)
    : undefined;
})();
// Below this size the isAscii call costs more than it saves.
const ASCII_CHECK = 256;

/** Decodes `bytes[start, end)` as UTF-8 (no BOM handling: the parser strips it itself). */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT) {
    // Short and ASCII (heartbeats, ids, small data lines): building the string in JS beats
    // any native call's fixed cost.
    let out = '';
    for (let i = start; i < end; i++) {
      const b = bytes[i]!;
      if (b >= 0x80) return decodeNative(bytes, start, end);
      out += String.fromCharCode(b);
    }
    return out;
  }
  return decodeNative(bytes, start, end);
}

function decodeNative(bytes: Uint8Array, start: number, end: number): string {
  if (bufferFrom !== undefined) {
    const n = end - start;
    const view = bufferFrom(bytes.buffer, bytes.byteOffset + start, n);
    return isAscii !== undefined && n >= ASCII_CHECK && isAscii(view)
      ? view.asciiSlice(0, n)
      : view.utf8Slice(0, n);
  }
  return textDecoder.decode(bytes.subarray(start, end));
}

/**
 * Decodes `bytes[start, end)` on its own, as if the stream ended there: a piece of a long line
 * cut on a sequence boundary. ASCII in one copy where the engine allows; multibyte text
 * through the streaming decoder (several times faster than a one-shot decode of multibyte
 * text on Node), flushed at once so that nothing is carried to the next piece.
 */
export function decodePiece(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= SHORT) return decodeUtf8(bytes, start, end);
  if (bufferFrom !== undefined && isAscii !== undefined) {
    const view = bufferFrom(bytes.buffer, bytes.byteOffset + start, n);
    if (isAscii(view)) return view.asciiSlice(0, n);
  }
  const text = pieceDecoder.decode(bytes.subarray(start, end), { stream: true });
  const rest = pieceDecoder.decode();
  return rest === '' ? text : text + rest;
}

/**
 * A decoder for regions of complete lines that picks the faster engine path as it goes.
 * Measured on Node 20: for ASCII, a one-shot decode runs ~5x faster than a streaming
 * `TextDecoder`; for multibyte text the streaming decoder (ICU) runs ~1.8x faster than any
 * one-shot decode. A region always ends with CR or LF, and an ASCII byte ends any UTF-8
 * sequence, so the streaming decoder never holds bytes between regions: both paths give
 * exactly the same text. When a region decodes to fewer UTF-16 units than it had bytes, it
 * held multibyte text, and the next region takes the streaming path (and back again).
 */
export function createRegionDecoder(): (bytes: Uint8Array, start: number, end: number) => string {
  // ignoreBOM: the parser strips the stream's BOM itself; a BOM later on is data.
  const streaming = new TextDecoder('utf-8', { ignoreBOM: true });
  let multibyte = false;
  return (bytes, start, end) => {
    if (end - start <= SHORT) return decodeUtf8(bytes, start, end);
    const text = multibyte
      ? streaming.decode(bytes.subarray(start, end), { stream: true })
      : decodeNative(bytes, start, end);
    multibyte = text.length < end - start;
    return text;
  };
}

/** The number of bytes `text` takes in UTF-8 (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
