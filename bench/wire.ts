/**
 * bench:wire: the outlast SSE parser against eventsource-parser, and the encoder's rate.
 *
 * Method: each fixture is a byte stream cut into chunks the way it reaches a client. Both
 * parsers start from the same bytes: outlast is fed the bytes; eventsource-parser is fed what
 * a streaming TextDecoder makes of them (its own EventSourceParserStream does exactly that),
 * so both timings include UTF-8 decoding. Both have an onComment handler (a client watches
 * heartbeats). Each round parses the whole fixture once with each parser, in alternating
 * order; after warm-up rounds, the median of the measured rounds is reported. Both parsers
 * must produce the same number of events and data characters, or the run fails.
 *
 * The decoding floor: a bare streaming `TextDecoder` over the same chunks, timed in the same
 * rounds. No parser that hands out strings can go below it; `floor x` is each parser's time as
 * a multiple of it, so a fixture bound by UTF-8 decoding shows as such.
 * Copies: the outlast parser counts the bytes it copies into its own buffers or decodes
 * (`copiedBytes`); divided by the input size it shows whether any path copies a byte more
 * than a constant number of times (a quadratic path grows with the number of chunks).
 */
import { createParser as createPeerParser } from 'eventsource-parser';
import { createParser, encodeEvent } from '../src/wire/index.js';
import { median, printTable, result } from './util.js';

const WARMUP = 3;
const ROUNDS = Number(process.env.ROUNDS ?? 25);
const encoder = new TextEncoder();

function chunk(bytes: Uint8Array, size: number | (() => number)): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = typeof size === 'number' ? size : size();
    chunks.push(bytes.slice(at, at + n));
    at += n;
  }
  return chunks;
}

let seed = 7;
function random(): number {
  seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
  return seed / 0x7fffffff;
}

function build(parts: (i: number) => string, count: number): Uint8Array {
  const list: string[] = [];
  for (let i = 0; i < count; i++) list.push(parts(i));
  return encoder.encode(list.join(''));
}

const bigJson = JSON.stringify(
  {
    pages: Array.from({ length: 60 }, (_, p) => ({
      page: p,
      words: Array.from({ length: 12 }, (_, w) => ({
        text: `word${w}`,
        conf: 0.93,
        box: [1, 2, 3, 4],
      })),
    })),
  },
  null,
  2,
);

// One huge event: 7 MiB of base64-like text on one `data:` line (an LLM answer carrying an
// image, a large JSON result), or the same size of multibyte text.
const MIB = 1_048_576;
const asciiBody = (bytes: number): string => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let out = '';
  for (let i = 0; i < bytes; i++) out += alphabet[(i * 7 + (i >> 6)) % 64];
  return out;
};
const multibyteBody = (bytes: number): string => {
  const unit = '日本語のテキスト — ça déménage 🚀✨ Ελληνικά ';
  const unitBytes = encoder.encode(unit).length;
  return unit.repeat(Math.floor(bytes / unitBytes));
};
const hugeAscii = encoder.encode(`id: 1\ndata: ${asciiBody(7 * MIB)}\n\n`);
const hugeMultibyte = encoder.encode(`id: 1\ndata: ${multibyteBody(7 * MIB)}\n\n`);
const manyAscii = build((i) => `id: ${i}\ndata: ${asciiBody(100 * 1024)}\n\n`, 70);
const manyMultibyte = build((i) => `id: ${i}\ndata: ${multibyteBody(100 * 1024)}\n\n`, 70);
// A line this long is allowed by both parsers (eventsource-parser has no line limit).
const hugeLimits = { maxLineBytes: 16 * MIB, maxEventBytes: 16 * MIB };

interface Fixture {
  name: string;
  what: string;
  chunks: Uint8Array[];
}

const smallEvents = build(
  (i) => `id: ${i}\ndata: {"token":"tok${i % 97}","index":${i}}\n\n`,
  60_000,
);
const fixtures: Fixture[] = [
  {
    name: 'small-events',
    what: '60k small JSON data events with ids, 16 KiB chunks',
    chunks: chunk(smallEvents, 16_384),
  },
  {
    name: 'heartbeats',
    what: '120k comment heartbeats, one event per 20, 16 KiB chunks',
    chunks: chunk(
      build(
        (i) => (i % 20 === 0 ? `data: progress ${i}\n\n` : `: hb ${1_732_000_000_000 + i}\n`),
        120_000,
      ),
      16_384,
    ),
  },
  {
    name: 'large-json',
    what: `200 pretty-printed JSON events of ${bigJson.length} bytes (${bigJson.split('\n').length} data lines each), 64 KiB chunks`,
    chunks: chunk(
      build((i) => `id: ${i}\nevent: page\ndata: ${bigJson.replaceAll('\n', '\ndata: ')}\n\n`, 200),
      65_536,
    ),
  },
  {
    name: 'tiny-chunks',
    what: '20k small events cut into random 1-16 byte chunks',
    chunks: chunk(
      smallEvents.subarray(0, smallEvents.length / 3),
      () => 1 + Math.floor(random() * 16),
    ),
  },
  {
    name: 'multibyte',
    what: '40k events of mixed CJK, accented and emoji text, 16 KiB chunks',
    chunks: chunk(
      build((i) => `id: ${i}\ndata: 日本語のテキスト ${i} — ça déménage 🚀✨ Ελληνικά\n\n`, 40_000),
      16_384,
    ),
  },
  {
    name: 'huge-1k',
    what: 'one 7 MiB data line (base64-like), 1 KiB chunks',
    chunks: chunk(hugeAscii, 1024),
  },
  {
    name: 'huge-64k',
    what: 'one 7 MiB data line (base64-like), 64 KiB chunks',
    chunks: chunk(hugeAscii, 65_536),
  },
  {
    name: 'many-100k',
    what: '70 events of one 100 KiB data line each, 4 KiB chunks',
    chunks: chunk(manyAscii, 4096),
  },
  {
    name: 'huge-1k-mb',
    what: 'one 7 MiB data line of multibyte text, 1 KiB chunks (sequences cut)',
    chunks: chunk(hugeMultibyte, 1024),
  },
  {
    name: 'huge-64k-mb',
    what: 'one 7 MiB data line of multibyte text, 64 KiB chunks',
    chunks: chunk(hugeMultibyte, 65_536),
  },
  {
    name: 'many-100k-mb',
    what: '70 events of one 100 KiB multibyte data line each, 4 KiB chunks',
    chunks: chunk(manyMultibyte, 4096),
  },
];

interface Count {
  events: number;
  chars: number;
}

interface OurCount extends Count {
  copied: number;
}

function runOurs(chunks: Uint8Array[]): OurCount {
  const count = { events: 0, chars: 0, copied: 0 };
  const parser = createParser(
    {
      onEvent: (e) => {
        count.events++;
        count.chars += e.data.length;
      },
      onComment: () => {},
    },
    hugeLimits,
  );
  for (const c of chunks) parser.feed(c);
  count.copied = parser.copiedBytes;
  return count;
}

// The decoding floor: what any parser that hands out strings must spend at least.
function runFloor(chunks: Uint8Array[]): Count {
  const decoder = new TextDecoder();
  let chars = 0;
  for (const c of chunks) chars += decoder.decode(c, { stream: true }).length;
  return { events: 0, chars };
}

function runPeer(chunks: Uint8Array[]): Count {
  const count = { events: 0, chars: 0 };
  const decoder = new TextDecoder();
  const parser = createPeerParser({
    onEvent: (e) => {
      count.events++;
      count.chars += e.data.length;
    },
    onComment: () => {},
  });
  for (const c of chunks) parser.feed(decoder.decode(c, { stream: true }));
  return count;
}

function time<T>(fn: () => T): [number, T] {
  const start = process.hrtime.bigint();
  const count = fn();
  return [Number(process.hrtime.bigint() - start) / 1e6, count];
}

console.log('bench:wire');
console.log('method: same bytes, same chunks; outlast gets bytes, eventsource-parser gets a');
console.log("streaming TextDecoder's output (decoding counted for both); onComment set on both;");
console.log(`${WARMUP} warm-up rounds, then median of ${ROUNDS} rounds, alternating order.`);
console.log('floor: a bare streaming TextDecoder over the same chunks (the decoding floor);');
console.log('copies/byte: bytes outlast copied or decoded, divided by the input bytes.');
console.log(
  `huge fixtures: both parsers allow the line (outlast maxLineBytes ${hugeLimits.maxLineBytes}).`,
);
console.log(`node ${process.version}, ${process.arch}\n`);

const rows: string[][] = [];
const fixtureResults: Record<string, Record<string, number>> = {};
let minRatio = Number.POSITIVE_INFINITY;
let maxCopies = 0;
const only = process.env.FIXTURES?.split(',');
for (const fixture of fixtures) {
  if (only !== undefined && !only.includes(fixture.name)) continue;
  const bytes = fixture.chunks.reduce((n, c) => n + c.length, 0);
  const ours: number[] = [];
  const peer: number[] = [];
  const floor: number[] = [];
  let countOurs: OurCount = { events: 0, chars: 0, copied: 0 };
  let countPeer: Count = { events: 0, chars: 0 };
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const order = round % 2 === 0 ? ['ours', 'peer', 'floor'] : ['floor', 'peer', 'ours'];
    for (const who of order) {
      if (who === 'floor') {
        const [ms] = time(() => runFloor(fixture.chunks));
        if (round >= WARMUP) floor.push(ms);
      } else if (who === 'ours') {
        const [ms, count] = time(() => runOurs(fixture.chunks));
        if (round >= WARMUP) ours.push(ms);
        countOurs = count;
      } else {
        const [ms, count] = time(() => runPeer(fixture.chunks));
        if (round >= WARMUP) peer.push(ms);
        countPeer = count;
      }
    }
  }
  if (countOurs.events !== countPeer.events || countOurs.chars !== countPeer.chars) {
    throw new Error(
      `${fixture.name}: parsers disagree (${JSON.stringify(countOurs)} vs ${JSON.stringify(countPeer)})`,
    );
  }
  const oursMs = median(ours);
  const peerMs = median(peer);
  const floorMs = median(floor);
  const ratio = peerMs / oursMs;
  const copies = countOurs.copied / bytes;
  minRatio = Math.min(minRatio, ratio);
  maxCopies = Math.max(maxCopies, copies);
  const mbs = (ms: number) => bytes / 1e6 / (ms / 1000);
  const eps = (ms: number) => countOurs.events / (ms / 1000);
  fixtureResults[fixture.name] = {
    bytes,
    events: countOurs.events,
    chunks: fixture.chunks.length,
    outlast_mb_s: round1(mbs(oursMs)),
    peer_mb_s: round1(mbs(peerMs)),
    outlast_events_s: Math.round(eps(oursMs)),
    peer_events_s: Math.round(eps(peerMs)),
    ratio: round2(ratio),
    outlast_ms: round2(oursMs),
    peer_ms: round2(peerMs),
    floor_ms: round2(floorMs),
    outlast_floor_x: round2(oursMs / floorMs),
    peer_floor_x: round2(peerMs / floorMs),
    copies_per_byte: round2(copies),
  };
  rows.push([
    fixture.name,
    (bytes / 1e6).toFixed(2),
    String(countOurs.events),
    mbs(oursMs).toFixed(1),
    mbs(peerMs).toFixed(1),
    Math.round(eps(oursMs)).toLocaleString('en'),
    Math.round(eps(peerMs)).toLocaleString('en'),
    `${ratio.toFixed(2)}x`,
    `${(oursMs / floorMs).toFixed(2)}`,
    `${(peerMs / floorMs).toFixed(2)}`,
    copies.toFixed(2),
  ]);
  console.log(`  ${fixture.name}: ${fixture.what}`);
}
console.log('');
printTable(
  [
    'fixture',
    'MB',
    'events',
    'outlast MB/s',
    'e-p MB/s',
    'outlast ev/s',
    'e-p ev/s',
    'ratio',
    'outlast floor x',
    'e-p floor x',
    'copies/byte',
  ],
  rows,
);

// Encoder: events to bytes, the server's hot path.
const encodeRounds: number[] = [];
const sample = {
  id: 'k3j2h1:123456',
  event: 'progress',
  data: { done: 0.42, page: 17, text: 'hello' },
};
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  const n = 100_000;
  const start = process.hrtime.bigint();
  let total = 0;
  for (let i = 0; i < n; i++) total += encodeEvent(sample).length;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (total === 0) throw new Error('encoder produced nothing');
  if (round >= WARMUP) encodeRounds.push(n / (ms / 1000));
}
const encoderEventsPerS = Math.round(median(encodeRounds));
console.log(
  `\nencoder: ${encoderEventsPerS.toLocaleString('en')} events/s (JSON data, id, type; to UTF-8 bytes)`,
);
const goal = 1.5;
console.log(
  minRatio >= goal
    ? `goal R >= ${goal} on every fixture: met (min ${minRatio.toFixed(2)})`
    : `goal R >= ${goal} on every fixture: NOT met (min ${minRatio.toFixed(2)}; see the table)`,
);

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

const floorRatios = Object.fromEntries(
  Object.entries(fixtureResults).map(([name, r]) => [name, r.outlast_floor_x]),
);
console.log(`copies per input byte: at most ${maxCopies.toFixed(2)} (constant: no quadratic path)`);
result({
  bench: 'wire',
  min_ratio_vs_eventsource_parser: round2(minRatio),
  max_copies_per_byte: round2(maxCopies),
  floor_ratio: floorRatios,
  fixtures: fixtureResults,
  encoder_events_per_s: encoderEventsPerS,
});
