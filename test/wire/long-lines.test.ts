import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createParser } from '../../src/wire/index.js';
import { type Output, parseChunks, splitAt, utf8 } from './helpers.js';

// Long lines, the input on which SSE parsers have gone quadratic: one line of hundreds of KiB
// (past the parser's 64 KiB decode piece), cut into many chunks.
const MIB = 1_048_576;
const roomy = { maxLineBytes: 16 * MIB, maxEventBytes: 16 * MIB };

// Bytes of one line: ASCII, multibyte sequences, and invalid bytes (lone continuation bytes,
// unfinished sequences, overlong leads), never CR or LF.
const segment = fc.oneof(
  fc.constantFrom(
    utf8('plain ascii text '),
    utf8('日本語 ça 🚀 Ελληνικά '),
    new Uint8Array([0x80]),
    new Uint8Array([0xe3, 0x81]),
    new Uint8Array([0xf0, 0x9f, 0x98]),
    new Uint8Array([0xc0, 0xaf]),
    new Uint8Array([0xef, 0xbb, 0xbf]),
    new Uint8Array([0xff]),
  ),
  fc
    .uint8Array({ minLength: 1, maxLength: 8 })
    .map((b) => b.map((x) => (x === 10 || x === 13 ? 32 : x))),
);

function longLine(segments: Uint8Array[], repeat: number): Uint8Array {
  const unit = segments.reduce((n, s) => n + s.length, 0);
  const out = new Uint8Array(unit * repeat);
  let at = 0;
  for (let r = 0; r < repeat; r++) {
    for (const s of segments) {
      out.set(s, at);
      at += s.length;
    }
  }
  return out;
}

function stream(line: Uint8Array): Uint8Array {
  const head = utf8('id: 7\ndata: ');
  const tail = utf8('\n\ndata: after\n\n');
  const out = new Uint8Array(head.length + line.length + tail.length);
  out.set(head, 0);
  out.set(line, head.length);
  out.set(tail, head.length + line.length);
  return out;
}

// Cuts every `size` bytes, with jitter from the cut list.
function evenCuts(length: number, size: number): number[] {
  const cuts: number[] = [];
  for (let at = size; at < length; at += size) cuts.push(at);
  return cuts;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('long lines', () => {
  it('give the same events however they are cut, invalid bytes included', () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 140_000, max: 260_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.array(fc.integer({ min: 1, max: 500_000 }), { maxLength: 20 }),
        (segments, size, chunkSize, extraCuts) => {
          const unit = segments.reduce((n, s) => n + s.length, 0);
          const bytes = stream(longLine(segments, Math.ceil(size / unit)));
          const whole: Output[] = parseChunks([bytes], roomy);
          const cut = parseChunks(
            splitAt(bytes, [...evenCuts(bytes.length, chunkSize), ...extraCuts]),
            roomy,
          );
          expect(cut).toEqual(whole);
          // The text is what a one-shot UTF-8 decode of the line gives.
          const first = whole[0];
          expect(first?.kind).toBe('event');
          if (first?.kind === 'event') {
            const line = bytes.subarray(12, bytes.length - 15);
            expect(first.event.data).toBe(
              new TextDecoder('utf-8', { ignoreBOM: true }).decode(line),
            );
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('copy each byte a constant number of times, however finely the line is cut', () => {
    // The parser's work on one long line, measured by the bytes it copies or decodes, must
    // not grow with the number of chunks: a quadratic path (re-copying or re-decoding the
    // line so far at every chunk) makes this ratio grow with the chunk count.
    const bytes = stream(longLine([utf8('日本語 ascii 🚀 '), new Uint8Array([0x80])], 8_000));
    const perByte: number[] = [];
    for (const chunkSize of [3, 64, 1024, 4096, 65_536, 1_000_000]) {
      const parser = createParser({ onEvent() {} }, roomy);
      for (const chunk of splitAt(bytes, evenCuts(bytes.length, chunkSize))) parser.feed(chunk);
      perByte.push(parser.copiedBytes / bytes.length);
    }
    for (const ratio of perByte) expect(ratio).toBeLessThanOrEqual(3);
    // From 1-byte to 1 MB chunks, the work differs by a constant factor, not by the count.
    expect(Math.max(...perByte) / Math.min(...perByte)).toBeLessThan(3);
  });

  it('holds a long line within maxLineBytes and recovers after it', () => {
    const errors: string[] = [];
    const events: string[] = [];
    const parser = createParser(
      { onEvent: (e) => events.push(e.data), onError: (e) => errors.push(e.code) },
      { maxLineBytes: 300_000 },
    );
    const bytes = stream(longLine([utf8('x'.repeat(1000))], 400));
    for (const chunk of splitAt(bytes, evenCuts(bytes.length, 1024))) {
      parser.feed(chunk);
      expect(parser.bufferedBytes).toBeLessThanOrEqual(300_000);
    }
    expect(errors).toEqual(['max-line-bytes-exceeded']);
    expect(events).toEqual(['after']);
  });

  it('keeps a BOM in the middle of the stream as data, with or without Buffer', async () => {
    const bytes = new Uint8Array([...utf8('data: 1\n\n'), 0xef, 0xbb, 0xbf, ...utf8('data:2\n\n')]);
    const expected = [
      { kind: 'event', event: { type: 'message', data: '1', lastEventId: '', id: undefined } },
    ];
    expect(parseChunks([bytes])).toEqual(expected);
    expect(parseChunks([bytes.subarray(0, 9), bytes.subarray(9)])).toEqual(expected);
    // The module picks its decoding path when it loads: load a fresh copy without Buffer.
    vi.resetModules();
    vi.stubGlobal('Buffer', undefined);
    const fresh = await import('../../src/wire/parser.js');
    const out: string[] = [];
    const parser = fresh.createParser({ onEvent: (e) => out.push(e.data) });
    // A chunk that starts with the BOM is where a decoder strips it (the stream's own start).
    parser.feed(bytes.subarray(0, 9));
    parser.feed(bytes.subarray(9));
    expect(out).toEqual(['1']);
  });
});
