import { describe, expect, it } from 'vitest';
import { isOutlastError } from '../../src/errors.js';
import { createParser } from '../../src/wire/index.js';
import { chunkings, events, parseChunks, splitAt, utf8 } from './helpers.js';

describe('parser limits', () => {
  it('drops an over-long line with its event, reports it, and goes on', () => {
    const input = utf8(`data: ok1\n\ndata: ${'x'.repeat(40)}\ndata: y\n\ndata: ok2\n\n`);
    for (const [how, chunks] of chunkings(input)) {
      const out = parseChunks(chunks, { maxLineBytes: 20 });
      expect(
        out.filter((o) => o.kind === 'error'),
        how,
      ).toEqual([{ kind: 'error', code: 'max-line-bytes-exceeded' }]);
      expect(events(out), how).toEqual([
        ['message', 'ok1', ''],
        ['message', 'ok2', ''],
      ]);
    }
  });

  it('counts line length in UTF-8 bytes, exactly at the bound', () => {
    // 'data: ' is 6 bytes, each 'é' 2 bytes: 6 + 2 * 7 = 20 bytes.
    const atBound = utf8(`data: ${'é'.repeat(7)}\n\n`);
    const overBound = utf8(`data: ${'é'.repeat(7)}x\n\n`);
    for (const [how, chunks] of chunkings(atBound)) {
      expect(events(parseChunks(chunks, { maxLineBytes: 20 })), how).toEqual([
        ['message', 'é'.repeat(7), ''],
      ]);
    }
    for (const [how, chunks] of chunkings(overBound)) {
      expect(parseChunks(chunks, { maxLineBytes: 20 }), how).toEqual([
        { kind: 'error', code: 'max-line-bytes-exceeded' },
      ]);
    }
  });

  it('drops an event whose data passes maxEventBytes, up to its blank line', () => {
    const input = utf8('data: 0123456789\ndata: 0123456789\nid: 7\n\ndata: small\n\n');
    for (const [how, chunks] of chunkings(input)) {
      const out = parseChunks(chunks, { maxEventBytes: 15 });
      expect(out, how).toEqual([
        { kind: 'error', code: 'max-event-bytes-exceeded' },
        {
          kind: 'event',
          event: { type: 'message', data: 'small', lastEventId: '', id: undefined },
        },
      ]);
    }
  });

  it('counts event data in UTF-8 bytes (multibyte)', () => {
    // 'ü' x 5 = 10 bytes; two lines + LF = 21 bytes.
    const input = utf8(`data: ${'ü'.repeat(5)}\ndata: ${'ü'.repeat(5)}\n\n`);
    expect(events(parseChunks([input], { maxEventBytes: 21 }))).toHaveLength(1);
    expect(parseChunks([input], { maxEventBytes: 20 })).toEqual([
      { kind: 'error', code: 'max-event-bytes-exceeded' },
    ]);
  });

  it('holds at most maxLineBytes for 100 MB without a newline, and recovers', () => {
    const errors: string[] = [];
    const got: string[] = [];
    const parser = createParser(
      { onEvent: (e) => got.push(e.data), onError: (e) => errors.push(e.code) },
      { maxLineBytes: 65_536 },
    );
    const chunk = new Uint8Array(1 << 20).fill(0x61); // 1 MiB of 'a'
    let maxHeld = 0;
    for (let i = 0; i < 100; i++) {
      parser.feed(chunk);
      maxHeld = Math.max(maxHeld, parser.bufferedBytes);
    }
    parser.feed(utf8('\n\ndata: after\n\n'));
    expect(maxHeld).toBeLessThanOrEqual(65_536);
    expect(errors).toEqual(['max-line-bytes-exceeded']);
    expect(got).toEqual(['after']);
  });

  it('without onError, feed throws the typed error after processing the chunk', () => {
    const got: string[] = [];
    const parser = createParser({ onEvent: (e) => got.push(e.data) }, { maxLineBytes: 10 });
    let thrown: unknown;
    try {
      parser.feed(utf8('data: 0123456789\n\ndata: ok\n\n'));
    } catch (error) {
      thrown = error;
    }
    expect(isOutlastError(thrown, 'max-line-bytes-exceeded')).toBe(true);
    expect(got).toEqual(['ok']);
    parser.feed(utf8('data: ok2\n\n'));
    expect(got).toEqual(['ok', 'ok2']);
  });

  it('rejects nonsensical limits', () => {
    expect(() => createParser({ onEvent() {} }, { maxLineBytes: 0 })).toThrowError(
      expect.objectContaining({ code: 'invalid-option' }),
    );
    expect(() => createParser({ onEvent() {} }, { maxEventBytes: 1.5 })).toThrowError(
      expect.objectContaining({ code: 'invalid-option' }),
    );
  });
});

describe('bad input', () => {
  it('NUL everywhere: no crash, spec behaviour', () => {
    const input = utf8('\0\0\0\n\0data: a\n\0\ndata: \0\n\n\0id: \0\n\n');
    for (const [how, chunks] of chunkings(input)) {
      expect(events(parseChunks(chunks)), how).toEqual([['message', '\0', '']]);
    }
  });

  it('garbage bytes: no crash, bounded', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const bytes = new Uint8Array(200_000).map(() => Math.floor(random() * 256));
    const parser = createParser({ onEvent() {}, onError() {} }, { maxLineBytes: 1024 });
    const cuts = Array.from({ length: 5000 }, () => Math.floor(random() * bytes.length));
    for (const chunk of splitAt(bytes, cuts)) {
      parser.feed(chunk);
      expect(parser.bufferedBytes).toBeLessThanOrEqual(1024 + 8_388_608);
    }
  });

  it('reset starts a new stream: BOM stripped again, state cleared, last id set', () => {
    const got: [string, string][] = [];
    const parser = createParser({ onEvent: (e) => got.push([e.data, e.lastEventId]) });
    parser.feed(utf8('id: 1\ndata: a\n\ndata: partial'));
    parser.reset({ lastEventId: '1' });
    parser.feed(utf8('\uFEFFdata: b\n\n'));
    parser.reset();
    parser.feed(utf8('data: c\n\n'));
    expect(got).toEqual([
      ['a', '1'],
      ['b', '1'],
      ['c', ''],
    ]);
  });
});
