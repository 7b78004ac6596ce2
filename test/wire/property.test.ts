import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createParser, formatEvent } from '../../src/wire/index.js';
import type { SseEventInit } from '../../src/wire/types.js';
import { parseChunks, splitAt, utf8 } from './helpers.js';

// Strings rich in what matters to the format: line ends, colons, spaces, NUL, BOM, multibyte.
const tricky = fc.constantFrom('\r', '\n', '\r\n', ':', ' ', '\0', '\uFEFF', 'é', '𝄞', 'data');
const anyText = fc.string({
  unit: fc.oneof(tricky, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
  maxLength: 40,
});
const oneLine = anyText.map((s) => s.replace(/[\r\n]/g, ''));
const eventInit: fc.Arbitrary<SseEventInit> = fc.record(
  {
    id: oneLine.map((s) => s.replace(/\0/g, '')),
    event: oneLine,
    data: anyText,
    retry: fc.nat({ max: 100_000 }),
  },
  { requiredKeys: ['data'] },
);
const cutsFor = (length: number) =>
  fc.array(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 30 });

describe('parser properties', () => {
  it('encode then parse returns the same events, for any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(eventInit, { maxLength: 12 }).chain((list) => {
          const bytes = utf8(list.map(formatEvent).join(''));
          return fc.tuple(fc.constant(list), fc.constant(bytes), cutsFor(bytes.length));
        }),
        ([list, bytes, cuts]) => {
          const out = parseChunks(splitAt(bytes, cuts));
          const expected: unknown[] = [];
          let lastId = '';
          for (const init of list) {
            if (init.retry !== undefined) expected.push({ kind: 'retry', ms: init.retry });
            if (init.id !== undefined) lastId = init.id;
            expected.push({
              kind: 'event',
              event: {
                type: init.event ? init.event : 'message',
                data: String(init.data).replace(/\r\n|\r/g, '\n'),
                lastEventId: lastId,
                id: init.id,
              },
            });
          }
          // formatEvent writes retry after data, so it is reported before the dispatch.
          expect(out).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });

  const streamBytes = fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: anyText.map(utf8) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(...['data: x\n', '\n', '\r', 'id: 1\r\n', ': c\n'].map(utf8)),
        },
      ),
      { maxLength: 30 },
    )
    .map((parts) => {
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return all;
    });

  it('output does not depend on chunk boundaries, for arbitrary bytes', () => {
    fc.assert(
      fc.property(
        streamBytes.chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes.length))),
        ([bytes, cuts]) => {
          const limits = { maxLineBytes: 24, maxEventBytes: 48 };
          expect(parseChunks(splitAt(bytes, cuts), limits)).toEqual(parseChunks([bytes], limits));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('never holds more than its bounds, for arbitrary input', () => {
    fc.assert(
      fc.property(
        streamBytes.chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes.length))),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        ([bytes, cuts], maxLineBytes, maxEventBytes) => {
          const parser = createParser(
            { onEvent() {}, onError() {} },
            { maxLineBytes, maxEventBytes },
          );
          for (const chunk of splitAt(bytes, cuts)) {
            parser.feed(chunk);
            expect(parser.bufferedBytes).toBeLessThanOrEqual(maxLineBytes + maxEventBytes);
          }
        },
      ),
      { numRuns: 600 },
    );
  });
});
