import { createServer as createTcp, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Connection,
  type CutReport,
  connect,
  emptyProfile,
  type LearnNotice,
  learnDefaults,
  learnFromCut,
  memoryProfileStore,
  type OpenNotice,
  type ProfileStore,
} from '../../src/client/index.js';
import type { TestServer } from '../helpers/server.js';
import { collect, proxyFor, publishSeries, startTestServer, testOptions } from './helpers.js';

const settings = { ...learnDefaults, order: ['sse', 'ws', 'poll'] as const };

function cut(over: Partial<CutReport>): CutReport {
  return {
    cause: 'mid-stream-eof',
    transport: 'sse',
    atMs: 0,
    sinceOpenMs: 1000,
    sinceLastByteMs: 100,
    sinceRequestMs: 1000,
    opened: true,
    bytes: 100,
    events: 1,
    heartbeats: 3,
    heartbeatMs: 250,
    ...over,
  };
}

describe('learning rules (pure)', () => {
  it('idle clock: a cut after silence from the open asks for a heartbeat at 45 % of it', () => {
    const p = emptyProfile('http://x');
    const c = cut({
      sinceRequestMs: 600,
      sinceOpenMs: 600,
      sinceLastByteMs: 598,
      heartbeats: 0,
      events: 0,
      heartbeatMs: 15_000,
    });
    const lessons = learnFromCut(p, c, [c], settings, 0);
    expect(lessons.map((l) => l.rule)).toEqual(['idle-clock']);
    expect(p.heartbeatMs).toBe(269);
    expect(p.idleMs).toBe(598);
  });

  it('idle clock: two cuts after the same silence at different ages', () => {
    const p = emptyProfile('http://x');
    const a = cut({ sinceRequestMs: 2_000, sinceLastByteMs: 500 });
    const b = cut({ sinceRequestMs: 3_100, sinceLastByteMs: 520 });
    expect(learnFromCut(p, a, [a], settings, 0)).toEqual([]);
    expect(learnFromCut(p, b, [a, b], settings, 0).map((l) => l.rule)).toEqual(['idle-clock']);
    expect(p.heartbeatMs).toBe(225);
  });

  it('total clock: two cuts at the same age despite traffic rotate at 80 % of it', () => {
    const p = emptyProfile('http://x');
    const a = cut({ sinceRequestMs: 15_020, sinceLastByteMs: 30 });
    const b = cut({ sinceRequestMs: 15_100, sinceLastByteMs: 700 });
    learnFromCut(p, a, [a], settings, 0);
    const lessons = learnFromCut(p, b, [a, b], settings, 0);
    expect(lessons.map((l) => l.rule)).toEqual(['total-clock']);
    expect(p.totalMs.sse).toBe(15_020);
    expect(p.maxStreamMs.sse).toBe(12_016);
    expect(lessons[0]!.switchTo).toBeNull();
  });

  it('total clock: moves to a transport that already lived longer on this path', () => {
    const p = emptyProfile('http://x');
    p.livedMs.ws = 60_000;
    const a = cut({ sinceRequestMs: 15_000, sinceLastByteMs: 30 });
    const b = cut({ sinceRequestMs: 15_050, sinceLastByteMs: 700 });
    learnFromCut(p, a, [a], settings, 0);
    const [lesson] = learnFromCut(p, b, [a, b], settings, 0);
    expect(lesson).toMatchObject({ rule: 'total-clock', switchTo: 'ws' });
    expect(p.transport).toBe('ws');
  });

  it('same age and same silence (periodic traffic): idle first, total once it goes on', () => {
    const p = emptyProfile('http://x');
    const a = cut({ sinceRequestMs: 430, sinceLastByteMs: 300, heartbeatMs: 5_000 });
    const b = cut({ sinceRequestMs: 432, sinceLastByteMs: 301, heartbeatMs: 5_000 });
    learnFromCut(p, a, [a], settings, 0);
    expect(learnFromCut(p, b, [a, b], settings, 0).map((l) => l.rule)).toEqual(['idle-clock']);
    expect(p.heartbeatMs).toBe(135);
    const c = cut({ sinceRequestMs: 431, sinceLastByteMs: 90, heartbeatMs: 135 });
    expect(learnFromCut(p, c, [a, b, c], settings, 0).map((l) => l.rule)).toEqual(['total-clock']);
  });

  it('cuts at different ages after different silences teach nothing', () => {
    const p = emptyProfile('http://x');
    const a = cut({ sinceRequestMs: 2_000, sinceLastByteMs: 100 });
    const b = cut({ sinceRequestMs: 5_000, sinceLastByteMs: 40 });
    learnFromCut(p, a, [a], settings, 0);
    expect(learnFromCut(p, b, [a, b], settings, 0)).toEqual([]);
  });

  it('buffering: SSE headers and no body byte, then a stall', () => {
    const p = emptyProfile('http://x');
    const c = cut({ cause: 'stall', bytes: 0, events: 0, heartbeats: 0 });
    const [lesson] = learnFromCut(p, c, [c], settings, 0);
    expect(lesson).toMatchObject({ rule: 'buffering', switchTo: 'ws' });
    expect(p.avoid).toEqual({ sse: 'buffering' });
  });

  it('refused: a WebSocket that cannot open moves to the next transport', () => {
    const p = emptyProfile('http://x');
    p.avoid.sse = 'buffering';
    const c = cut({ transport: 'ws', cause: 'intermediary-error', opened: false, status: 403 });
    const [lesson] = learnFromCut(p, c, [c], settings, 0);
    expect(lesson).toMatchObject({ rule: 'refused', switchTo: 'poll' });
  });

  it('idle clock: a held long-poll answered with a 504 lowers the heartbeat (and the hold)', () => {
    const p = emptyProfile('http://x');
    const c = cut({
      transport: 'poll',
      cause: 'intermediary-error',
      status: 504,
      sinceLastByteMs: 1_000,
      heartbeatMs: 15_000,
    });
    expect(learnFromCut(p, c, [c], settings, 0).map((l) => l.rule)).toEqual(['idle-clock']);
    expect(p.heartbeatMs).toBe(450);
  });

  it('total clock: cuts of requests on reused connections are no evidence', () => {
    const p = emptyProfile('http://x');
    // Each request followed a rotation on a kept-alive connection: a clock counting the
    // connection's age cut them at ~100 ms of their own age, twice; the clock is not 100 ms.
    const a = cut({ sinceRequestMs: 100, sinceLastByteMs: 3, reusedConnection: true });
    const b = cut({ sinceRequestMs: 104, sinceLastByteMs: 1, reusedConnection: true });
    expect(learnFromCut(p, a, [a], settings, 0)).toEqual([]);
    expect(learnFromCut(p, b, [a, b], settings, 0)).toEqual([]);
    // A fresh connection cut at the same age as a reused one is no twin either.
    const c = cut({ sinceRequestMs: 102, sinceLastByteMs: 2 });
    expect(learnFromCut(p, c, [a, b, c], settings, 0)).toEqual([]);
    expect(p.totalMs).toEqual({});
  });

  it('server rotations and client aborts only record lifetimes', () => {
    const p = emptyProfile('http://x');
    const c = cut({ cause: 'server-rotation', sinceRequestMs: 9_000 });
    expect(learnFromCut(p, c, [c], settings, 0)).toEqual([]);
    expect(p.livedMs.sse).toBe(9_000);
  });
});

// Through the real proxy's presets, time-scaled: the client learns the path while a job runs,
// completes it without loss, and the next connection starts with what was learned.

let server: TestServer | null = null;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await server?.close();
  server = null;
});

interface Run {
  conn: Connection;
  lessons: LearnNotice[];
  opens: OpenNotice[];
  cuts: CutReport[];
  moves: string[];
}

function watch(conn: Connection): Run {
  const run: Run = { conn, lessons: [], opens: [], cuts: [], moves: [] };
  conn.on('learn', (l) => run.lessons.push(l));
  conn.on('open', (o) => run.opens.push(o));
  conn.on('cut', (c) => run.cuts.push(c));
  conn.on('transport', (t) => run.moves.push(`${t.from}->${t.to}`));
  return run;
}

async function runStream(url: string, store: ProfileStore, n: number, gapMs: number, extra = {}) {
  const id = `s${Math.random().toString(36).slice(2)}`;
  await server!.outlast.publish(id, { data: 'start' });
  const run = watch(connect(`${url}/streams/${id}`, testOptions({ profile: store, ...extra })));
  const published = publishSeries(server!, id, n, gapMs);
  const got = await collect(run.conn);
  const ids = await published;
  expect(got.slice(1).map((e) => e.id)).toEqual(ids);
  return run;
}

/**
 * A TCP relay to `port` whose clock counts each connection's age: `totalMs` after accepting
 * it, both sides are ended (FIN), whatever requests rode it.
 */
async function connectionClock(port: number, totalMs: number) {
  const pairs = new Set<[Socket, Socket]>();
  const relay = createTcp((client) => {
    const upstream = new (client.constructor as typeof Socket)();
    upstream.connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const timer = setTimeout(() => {
      client.end();
      upstream.end();
    }, totalMs);
    const drop = () => {
      clearTimeout(timer);
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.pipe(upstream).pipe(client);
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port: own } = relay.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${own}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) for (const socket of pair) socket.destroy();
        relay.close(() => resolve());
      }),
  };
}

describe('learning the path through the proxy', () => {
  it('idle clock (aws-alb): asks for a heartbeat under half of it, then lives on', async () => {
    server = await startTestServer({ heartbeatMs: 5_000 });
    const proxy = await proxyFor(server, { preset: 'aws-alb', timeScale: 0.005 }); // idle 300 ms
    closers.push(() => proxy.close());
    const store = memoryProfileStore();
    // Events 450 ms apart: silences longer than the idle clock.
    const first = await runStream(proxy.base, store, 5, 450);
    expect(first.lessons.map((l) => l.rule)).toContain('idle-clock');
    const profile = first.conn.pathProfile!;
    expect(profile.heartbeatMs).toBeLessThanOrEqual(150);
    // The next connection starts right: it asks for the heartbeat and is never cut.
    const second = await runStream(proxy.base, store, 5, 450);
    expect(second.lessons).toEqual([]);
    expect(second.cuts.filter((c) => c.cause !== 'server-rotation')).toEqual([]);
    expect(second.opens[0]!.heartbeatMs).toBe(profile.heartbeatMs);
  });

  it('total clock (aws-service-connect): rotates before it despite heartbeats', async () => {
    server = await startTestServer({ heartbeatMs: 40 });
    const proxy = await proxyFor(server, { preset: 'aws-service-connect', timeScale: 0.02 }); // 300 ms
    closers.push(() => proxy.close());
    const store = memoryProfileStore();
    const first = await runStream(proxy.base, store, 40, 30);
    expect(first.lessons.map((l) => l.rule)).toContain('total-clock');
    const profile = first.conn.pathProfile!;
    expect(profile.totalMs.sse).toBeGreaterThan(250);
    expect(profile.maxStreamMs.sse).toBeLessThan(profile.totalMs.sse!);
    const second = await runStream(proxy.base, store, 40, 30);
    expect(second.opens[0]!.maxStreamMs).toBe(profile.maxStreamMs.sse);
    expect(second.cuts.map((c) => c.cause).filter((c) => c !== 'server-rotation')).toEqual([]);
  });

  it('total clock counting the TCP connection: rotations on a kept-alive one teach nothing', async () => {
    // The relay ends each TCP connection 700 ms after accepting it (bench/resume.ts's `total`);
    // the server rotates every 300 ms and the next request rides the same socket, so the
    // third request of each connection is cut ~100 ms after it was sent, again and again.
    server = await startTestServer({ heartbeatMs: 40, minMaxStreamMs: 100 });
    const relay = await connectionClock(Number(new URL(server.origin).port), 700);
    closers.push(relay.close);
    const store = memoryProfileStore();
    const run = await runStream(`${relay.origin}/outlast`, store, 450, 5, {
      maxStreamMs: 300,
      transports: ['sse'],
    });
    const cuts = run.cuts.filter((c) => c.cause === 'mid-stream-eof');
    console.log(
      `cuts at ${cuts.map((c) => Math.round(c.sinceRequestMs))} ms; lessons ${JSON.stringify(run.lessons.map((l) => l.note))}`,
    );
    expect(cuts.length).toBeGreaterThanOrEqual(2);
    expect(run.lessons.filter((l) => l.rule === 'total-clock')).toEqual([]);
    expect(run.conn.pathProfile!.totalMs).toEqual({});
  });

  it('buffering (corporate-av): SSE is held whole, the client moves to WebSocket', async () => {
    server = await startTestServer({ heartbeatMs: 50 });
    const proxy = await proxyFor(server, { preset: 'corporate-av' });
    closers.push(() => proxy.close());
    const store = memoryProfileStore();
    const first = await runStream(proxy.base, store, 20, 20);
    expect(first.lessons.map((l) => l.rule)).toEqual(['buffering']);
    expect(first.moves).toEqual(['sse->ws']);
    const second = await runStream(proxy.base, store, 20, 20);
    expect(second.opens.map((o) => o.transport)).toEqual(['ws']);
    expect(second.cuts).toEqual([]);
  });

  it('buffering and WebSocket refused: ends on long-polling', async () => {
    server = await startTestServer({ heartbeatMs: 50 });
    const proxy = await proxyFor(server, {
      preset: 'corporate-av',
      knobs: { websocket: 'refuse' },
    });
    closers.push(() => proxy.close());
    const store = memoryProfileStore();
    const first = await runStream(proxy.base, store, 20, 20);
    expect(first.lessons.map((l) => l.rule)).toEqual(['buffering', 'refused']);
    expect(first.moves).toEqual(['sse->ws', 'ws->poll']);
    const second = await runStream(proxy.base, store, 20, 20);
    expect(second.opens.map((o) => o.transport)).toEqual(['poll']);
  });

  it('WebSocket refused (first in order): the next transport, remembered', async () => {
    server = await startTestServer({ heartbeatMs: 50 });
    const proxy = await proxyFor(server, {
      knobs: { websocket: 'refuse', websocketRefuseStatus: 403 },
    });
    closers.push(() => proxy.close());
    const store = memoryProfileStore();
    const opts = { transports: ['ws', 'sse', 'poll'], protocol: 'outlast' };
    const first = await runStream(proxy.base, store, 10, 10, opts);
    expect(first.cuts[0]).toMatchObject({
      transport: 'ws',
      cause: 'intermediary-error',
      status: 403,
    });
    expect(first.moves).toEqual(['ws->sse']);
    const second = await runStream(proxy.base, store, 10, 10, opts);
    expect(second.opens.map((o) => o.transport)).toEqual(['sse']);
  });
});
