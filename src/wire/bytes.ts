/*
 * Finding line ends in bytes, for the parser. On Node, Buffer#indexOf is memchr: about ten
 * times faster than Uint8Array#indexOf or a JS loop, which is what decides the speed of a
 * long line cut into many small chunks. Elsewhere (browsers, Deno, Workers) a plain loop.
 */

const LF = 10;
const CR = 13;
// Up to this many bytes, a plain loop beats making a Buffer view and calling into C++.
const SCAN_INLINE = 64;

interface NodeBufferView extends Uint8Array {
  indexOf(value: number, byteOffset?: number): number;
  lastIndexOf(value: number, byteOffset?: number): number;
}
type ViewOf = (bytes: Uint8Array) => NodeBufferView;

const viewOf: ViewOf | undefined = (() => {
  const B = (globalThis as { Buffer?: { from?: unknown; isBuffer?: unknown } }).Buffer;
  if (typeof B?.from !== 'function' || typeof B.isBuffer !== 'function') return undefined;
  const from = B.from.bind(B) as (b: ArrayBufferLike, o: number, l: number) => NodeBufferView;
  const isBuffer = B.isBuffer.bind(B) as (b: unknown) => boolean;
  return (bytes) =>
    isBuffer(bytes)
      ? (bytes as NodeBufferView)
      : from(bytes.buffer, bytes.byteOffset, bytes.length);
})();

/** The first CR or LF in `bytes[from, len)`, or `len` if there is none. */
export function firstLineEnd(bytes: Uint8Array, from: number, len: number): number {
  if (viewOf === undefined || len - from <= SCAN_INLINE) {
    for (let i = from; i < len; i++) {
      const b = bytes[i]!;
      if (b <= CR && (b === LF || b === CR)) return i;
    }
    return len;
  }
  const view = viewOf(bytes);
  const lf = view.indexOf(LF, from);
  const cr = view.indexOf(CR, from);
  if (lf === -1) return cr === -1 ? len : cr;
  return cr === -1 || lf < cr ? lf : cr;
}

/** The last CR or LF in `bytes[from, len)`, or `from - 1` if there is none. */
export function lastLineEnd(bytes: Uint8Array, from: number, len: number): number {
  // Ordinary chunks end at or near a line end: look back a little by hand first.
  const stop = Math.max(from, len - SCAN_INLINE);
  for (let i = len - 1; i >= stop; i--) {
    const b = bytes[i]!;
    if (b <= CR && (b === LF || b === CR)) return i;
  }
  if (stop === from) return from - 1;
  if (viewOf === undefined) {
    for (let i = stop - 1; i >= from; i--) {
      const b = bytes[i]!;
      if (b <= CR && (b === LF || b === CR)) return i;
    }
    return from - 1;
  }
  // The next line end after `from`, if any, decides whether there is one at all: for a long
  // line's first chunk (no line end) this is one forward memchr instead of a backward loop.
  const first = firstLineEnd(bytes, from, stop);
  if (first === stop) return from - 1;
  const view = viewOf(bytes);
  const at = Math.max(view.lastIndexOf(LF, stop - 1), view.lastIndexOf(CR, stop - 1));
  return at >= from ? at : from - 1;
}

/**
 * Reads a whole body of at most `limit` bytes; `null` (and the rest cancelled) when it is
 * longer. A body that errors rejects.
 */
export async function readAtMost(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
