import { describe, expect, it } from 'vitest';
import { chunkings, type Output, parseChunks, utf8 } from './helpers.js';

// Each case is parsed whole, byte by byte, and split at every position (in two, and in three
// around each byte): the output must be identical for every chunking.

const ev = (data: string, type = 'message', lastEventId = '', id?: string): Output => ({
  kind: 'event',
  event: { type, data, lastEventId, id },
});
const comment = (text: string): Output => ({ kind: 'comment', text });
const retry = (ms: number): Output => ({ kind: 'retry', ms });

interface Case {
  name: string;
  input: string | Uint8Array;
  expected: Output[];
}

const cases: Case[] = [
  // Dispatch basics.
  { name: 'one data line', input: 'data: hello\n\n', expected: [ev('hello')] },
  { name: 'data lines joined with LF', input: 'data: a\ndata: b\n\n', expected: [ev('a\nb')] },
  {
    name: 'trailing LF of the data buffer removed, only one',
    input: 'data: a\ndata:\n\n',
    expected: [ev('a\n')],
  },
  { name: 'empty data line dispatches an empty string', input: 'data:\n\n', expected: [ev('')] },
  {
    name: 'a block with no data is not dispatched',
    input: 'event: x\n\nid: 1\n\n',
    expected: [],
  },
  { name: 'incomplete event at end of stream is discarded', input: 'data: a\n', expected: [] },
  { name: 'no final line end: nothing', input: 'data: a', expected: [] },
  {
    name: 'several blank lines',
    input: '\n\ndata: a\n\n\n\ndata: b\n\n',
    expected: [ev('a'), ev('b')],
  },
  // Line ends.
  { name: 'CRLF line ends', input: 'data: a\r\ndata: b\r\n\r\n', expected: [ev('a\nb')] },
  { name: 'CR line ends', input: 'data: a\rdata: b\r\r', expected: [ev('a\nb')] },
  {
    name: 'mixed line ends',
    input: 'data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r\n\n',
    expected: [ev('a\nb\nc'), ev('d')],
  },
  { name: 'CR CR is two line ends', input: 'data: a\r\rdata: b\n\n', expected: [ev('a'), ev('b')] },
  { name: 'LF CR is two line ends', input: 'data: a\n\rdata: b\n\n', expected: [ev('a'), ev('b')] },
  // BOM.
  { name: 'leading BOM stripped', input: '\uFEFFdata: a\n\n', expected: [ev('a')] },
  {
    name: 'only one BOM stripped: a second makes an unknown field',
    input: '\uFEFF\uFEFFdata: a\n\ndata: b\n\n',
    expected: [ev('b')],
  },
  {
    name: 'BOM in the middle is data',
    input: 'data: a\n\n\uFEFFdata: b\n\ndata: \uFEFFc\n\n',
    expected: [ev('a'), ev('\uFEFFc')],
  },
  {
    name: 'a partial BOM at the start is data (becomes U+FFFD)',
    input: new Uint8Array([0xef, 0xbb, 0x3a, 0x78, 0x0a, 0x64, 0x61, 0x74, 0x61, 0x0a, 0x0a]),
    expected: [ev('')],
  },
  // Fields.
  { name: 'line without colon: field with empty value', input: 'data\n\n', expected: [ev('')] },
  {
    name: 'event without colon: empty type means message',
    input: 'event: x\nevent\ndata: a\n\n',
    expected: [ev('a')],
  },
  { name: 'one leading space removed', input: 'data:  two\n\n', expected: [ev(' two')] },
  { name: 'no space after colon', input: 'data:x\n\n', expected: [ev('x')] },
  { name: 'colon inside the value kept', input: 'data: a:b: c\n\n', expected: [ev('a:b: c')] },
  { name: 'trailing spaces kept', input: 'data: a  \n\n', expected: [ev('a  ')] },
  {
    name: 'unknown fields ignored',
    input: 'foo: bar\ndata: a\nDATA: b\nData: c\n data: d\ndata : e\n\n',
    expected: [ev('a')],
  },
  { name: 'default type message', input: 'data: a\n\n', expected: [ev('a', 'message')] },
  {
    name: 'event type applies to its block only',
    input: 'event: add\ndata: 1\n\ndata: 2\n\n',
    expected: [ev('1', 'add'), ev('2')],
  },
  {
    name: 'last event type wins',
    input: 'event: a\nevent: b\ndata: x\n\n',
    expected: [ev('x', 'b')],
  },
  { name: 'NUL in data kept', input: 'data: a\0b\n\n', expected: [ev('a\0b')] },
  // id.
  {
    name: 'id persists across events',
    input: 'id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n',
    expected: [ev('a', 'message', '1', '1'), ev('b', 'message', '1'), ev('c', 'message', '2', '2')],
  },
  {
    name: 'id containing NUL ignored',
    input: 'id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n',
    expected: [ev('a', 'message', '1', '1'), ev('b', 'message', '1')],
  },
  {
    name: 'empty id resets the last event id',
    input: 'id: 1\ndata: a\n\nid\ndata: b\n\nid: 3\ndata: c\n\nid:\ndata: d\n\n',
    expected: [
      ev('a', 'message', '1', '1'),
      ev('b', 'message', '', ''),
      ev('c', 'message', '3', '3'),
      ev('d', 'message', '', ''),
    ],
  },
  {
    name: 'an id-only block sets the last event id for the next event',
    input: 'id: 5\n\ndata: a\n\n',
    expected: [ev('a', 'message', '5')],
  },
  {
    name: 'id keeps inner spaces',
    input: 'id:  a b \ndata: x\n\n',
    expected: [ev('x', 'message', ' a b ', ' a b ')],
  },
  // retry.
  { name: 'retry with digits', input: 'retry: 1500\n', expected: [retry(1500)] },
  { name: 'retry without space', input: 'retry:0\n', expected: [retry(0)] },
  {
    name: 'retry that is not all ASCII digits is ignored',
    input:
      'retry: -1\nretry: 1e3\nretry: 1.5\nretry: 10 \nretry:  10\nretry:\nretry\nretry: x\nretry: \uFF11\n',
    expected: [],
  },
  // Comments.
  {
    name: 'comments surfaced without colon and one space',
    input: ': hb\n:x\n:\n:  two\ndata: a\n\n',
    expected: [comment('hb'), comment('x'), comment(''), comment(' two'), ev('a')],
  },
  {
    name: 'a comment inside an event does not break it',
    input: 'data: a\n: hb\ndata: b\n\n',
    expected: [comment('hb'), ev('a\nb')],
  },
  // Encoding.
  { name: 'multibyte text', input: 'data: héllo ✓ 𝄞 日本\n\n', expected: [ev('héllo ✓ 𝄞 日本')] },
  {
    name: 'invalid UTF-8 becomes U+FFFD',
    input: new Uint8Array([
      ...utf8('data: '),
      0xff,
      0x61,
      0xc3,
      0x28,
      0xe2,
      0x82,
      0x0a,
      0xf0,
      0x9f,
      0x98,
      0x0a,
      0x0a,
    ]),
    // The second line decodes to one U+FFFD: an unknown field name, ignored.
    expected: [ev('\uFFFDa\uFFFD(\uFFFD')],
  },
  {
    name: 'a truncated sequence before a line end yields one U+FFFD',
    input: new Uint8Array([...utf8('data: x'), 0xe2, 0x82, 0x0d, 0x0a, 0x0a]),
    expected: [ev('x\uFFFD')],
  },
  {
    name: 'surrogate code points encoded in UTF-8 are invalid',
    input: new Uint8Array([...utf8('data: '), 0xed, 0xa0, 0x80, 0x0a, 0x0a]),
    expected: [ev('\uFFFD\uFFFD\uFFFD')],
  },
];

describe('parser conformance (WHATWG HTML 9.2.5), over every chunking', () => {
  for (const { name, input, expected } of cases) {
    it(name, () => {
      const bytes = typeof input === 'string' ? utf8(input) : input;
      for (const [how, chunks] of chunkings(bytes)) {
        expect(parseChunks(chunks), how).toEqual(expected);
      }
    });
  }
});
