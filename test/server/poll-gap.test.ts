import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import type { MemoryStore } from '../../src/store/index.js';
import { createMemoryStore } from '../../src/store/index.js';
import { testOptions } from '../client/helpers.js';
import { closeIdle, sleep, startServer, type TestServer } from '../helpers/server.js';

/*
 * A long-poll answered with a gap and no retained event must tell where to go on from, the
 * client must go on from there, and no answer may make the client poll in a tight loop.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

async function poll(base: string, query: string) {
  const res = await fetch(`${base}/streams/s?transport=poll&wait=0&${query}`);
  return (await res.json()) as { lastEventId: string | null; resume: string; gap: unknown };
}

/** Counts the long-polls the server answers. */
function countPolls(s: TestServer): { count: number } {
  const counter = { count: 0 };
  s.server.prependListener('request', (req) => {
    if (req.url?.includes('transport=poll')) counter.count++;
  });
  return counter;
}

describe('a long-poll gap with no retained event', () => {
  it('carries the newest id when every event has aged out', async () => {
    let now = Date.now();
    const store = createMemoryStore({ maxEventAgeMs: 1_000, now: () => now });
    server = await startServer({ store });
    const old = await server.outlast.publish('s', { data: 'a' });
    const newest = await server.outlast.publish('s', { data: 'b' });
    now += 5_000;
    await store.trim('s');
    const body = await poll(server.base, `lastEventId=${old}`);
    expect(body.resume).toBe('gap');
    expect(body.lastEventId).toBe(newest);
    // From there the server holds, rather than telling the gap again.
    const next = await poll(server.base, `lastEventId=${newest}`);
    expect(next.resume).toBe('recovered');
  });

  it('tells null (read from the start) when the new epoch has no event yet', async () => {
    server = await startServer();
    const old = await server.outlast.publish('s', { data: 'a' });
    (server.outlast.store as MemoryStore).clear();
    await server.outlast.store.create('s');
    const body = await poll(server.base, `lastEventId=${old}`);
    expect(body).toMatchObject({ resume: 'gap', lastEventId: null });
  });

  it('the client goes on from that position: a few polls a second, then the next event', async () => {
    server = await startServer({ pollWaitMs: 300 });
    const old = await server.outlast.publish('s', { data: 'a' });
    (server.outlast.store as MemoryStore).clear();
    await server.outlast.store.create('s');
    const polls = countPolls(server);
    const conn = connect(
      `${server.base}/streams/s`,
      testOptions({ transports: ['poll'], protocol: 'outlast', lastEventId: old, pollWaitMs: 300 }),
    );
    const gaps: string[] = [];
    conn.on('gap', (g) => gaps.push(g.reason));
    const got: string[] = [];
    const reading = (async () => {
      for await (const e of conn) got.push(e.data);
    })();
    await sleep(1_000);
    // Before, the client resent its refused id at once, forever: over 1 000 polls a second.
    expect(polls.count).toBeLessThanOrEqual(8);
    expect(gaps).toEqual(['epoch']);
    await server.outlast.publish('s', { data: 'after' });
    await server.outlast.end('s');
    await reading;
    expect(got).toEqual(['after']);
  });

  it('a server answering every poll empty at once gets polled with a pause, never in a loop', async () => {
    server = await startServer({ pollWaitMs: 0, maxPollWaitMs: 0 });
    await server.outlast.publish('s', { data: 'a' });
    const arrivals: number[] = [];
    server.server.prependListener('request', (req) => {
      if (req.url?.includes('transport=poll')) arrivals.push(performance.now());
    });
    // A short backoff, so that a reopen loop (even a backed-off one) shows as many polls.
    const conn = connect(
      `${server.base}/streams/s`,
      testOptions({
        transports: ['poll'],
        protocol: 'outlast',
        pollWaitMs: 0,
        initialDelayMs: 10,
        maxDelayMs: 40,
      }),
    );
    const cuts: string[] = [];
    conn.on('cut', (c) => cuts.push(c.cause));
    await sleep(1_500);
    conn.close();
    // Paced: one poll per 100 ms pause, about 15 in 1.5 s; before, every poll was cut by a
    // stall watchdog shorter than the pause and reopened at once (50 and more).
    expect(arrivals.length).toBeLessThanOrEqual(20);
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    // The first poll carries the event, the next follows at once; every later one was empty.
    const empty = arrivals.slice(1);
    const gaps = empty.slice(1).map((t, i) => t - empty[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(80);
    expect(cuts.filter((c) => c !== 'client-abort')).toEqual([]);
  });
});
