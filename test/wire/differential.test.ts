import { createParser as createReferenceParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChunks, splitAt, utf8 } from './helpers.js';

// The same bytes through eventsource-parser (fed by a streaming TextDecoder, as its own
// stream wrapper does) and through ours must give the same events, ids, retries and comments.
// One known difference is excluded by ending every stream with LF: eventsource-parser holds a
// CR that ends a chunk until the next byte (to see whether LF follows), so a line ended by CR
// at the very end of a stream is never processed; we process it at once, as the spec's
// end-of-line rule (CR LF / CR / LF) allows. See docs/wire.md.

function reference(chunks: Uint8Array[]): unknown[] {
  const out: unknown[] = [];
  const decoder = new TextDecoder();
  const parser = createReferenceParser({
    onEvent: (e) => out.push({ kind: 'event', type: e.event ?? 'message', data: e.data, id: e.id }),
    onRetry: (ms) => out.push({ kind: 'retry', ms }),
    onComment: (text) => out.push({ kind: 'comment', text }),
  });
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }));
  parser.feed(decoder.decode());
  return out;
}

function ours(chunks: Uint8Array[]): unknown[] {
  return parseChunks(chunks).map((o) =>
    o.kind === 'event'
      ? { kind: 'event', type: o.event.type, data: o.event.data, id: o.event.id }
      : o,
  );
}

const fieldName = fc.constantFrom(
  'data',
  'event',
  'id',
  'retry',
  'Data',
  'foo',
  '',
  ' data',
  'dat',
);
const value = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', ' ', '  x', '42', '-1', '1e3', '007', 'a\0b', 'é😀', '\uFEFF'),
);
const sep = fc.constantFrom(': ', ':', '', ':  ');
const eol = fc.constantFrom('\n', '\r', '\r\n');
const line = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fieldName, sep, value, eol).map((p) => p.join('')) },
  { weight: 3, arbitrary: eol },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(':', ': '), value, eol).map((p) => p.join('')) },
);
const validish = fc.array(line, { maxLength: 25 }).map((lines) => utf8(`${lines.join('')}\n`));
const withGarbage = fc
  .tuple(validish, fc.uint8Array({ maxLength: 16 }), fc.nat())
  .map(([bytes, garbage, at]) => {
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    return new Uint8Array([...bytes.subarray(0, i), ...garbage, ...bytes.subarray(i), 10]);
  });

describe('differential against eventsource-parser', () => {
  for (const [name, streams] of [
    ['valid streams', validish],
    ['streams with garbage bytes', withGarbage],
  ] as const) {
    it(`same events, ids, retries and comments on ${name}`, () => {
      fc.assert(
        fc.property(
          streams.chain((bytes) =>
            fc.tuple(
              fc.constant(bytes),
              fc.array(fc.integer({ min: 1, max: Math.max(1, bytes.length) }), { maxLength: 10 }),
            ),
          ),
          ([bytes, cuts]) => {
            const chunks = splitAt(bytes, cuts);
            expect(ours(chunks)).toEqual(reference(chunks));
          },
        ),
        { numRuns: 1500 },
      );
    });
  }
});
