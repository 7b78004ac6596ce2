import type { OutlastError } from '../../src/errors.js';
import { createParser, type ParserOptions } from '../../src/wire/index.js';
import type { SseEvent } from '../../src/wire/types.js';

/** Everything a parser reported, in order. */
export type Output =
  | { kind: 'event'; event: SseEvent }
  | { kind: 'comment'; text: string }
  | { kind: 'retry'; ms: number }
  | { kind: 'error'; code: string };

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Feeds `chunks` to a fresh parser and returns what it reported. */
export function parseChunks(chunks: Uint8Array[], options?: ParserOptions): Output[] {
  const out: Output[] = [];
  const parser = createParser(
    {
      onEvent: (event) => out.push({ kind: 'event', event }),
      onComment: (text) => out.push({ kind: 'comment', text }),
      onRetry: (ms) => out.push({ kind: 'retry', ms }),
      onError: (error: OutlastError) => out.push({ kind: 'error', code: error.code }),
    },
    options,
  );
  for (const chunk of chunks) parser.feed(chunk);
  return out;
}

/** Splits `bytes` at the given cut positions. */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of sorted) {
    chunks.push(bytes.slice(from, cut));
    from = cut;
  }
  chunks.push(bytes.slice(from));
  return chunks;
}

/**
 * Every chunking the conformance suite tries: whole, byte by byte, and split in two at every
 * position (and in three around every position, to put CR and LF in separate chunks).
 */
export function* chunkings(bytes: Uint8Array): Generator<[string, Uint8Array[]]> {
  yield ['whole', [bytes]];
  yield [
    'byte by byte',
    splitAt(
      bytes,
      Array.from({ length: bytes.length }, (_, i) => i),
    ),
  ];
  for (let i = 1; i < bytes.length; i++) {
    yield [`split at ${i}`, splitAt(bytes, [i])];
    if (i + 1 < bytes.length) yield [`split at ${i} and ${i + 1}`, splitAt(bytes, [i, i + 1])];
  }
}

/** Events only, as `[type, data, lastEventId]` triples: compact expectations. */
export const events = (out: Output[]): [string, string, string][] =>
  out.flatMap((o) =>
    o.kind === 'event' ? [[o.event.type, o.event.data, o.event.lastEventId]] : [],
  );
