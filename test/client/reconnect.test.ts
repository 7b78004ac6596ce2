import { afterEach, describe, expect, it } from 'vitest';
import { type ClientEvent, connect, type ReconnectNotice } from '../../src/client/index.js';
import { startCutter } from './cutter.js';
import { fakeClock, sleep, startTestServer, testOptions, until } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const enc = new TextEncoder();
/** An outlast SSE answer: open notice, `retry:`, the events, then the body ends (a cut). */
function healthy(ids: string[], retryMs = 100): Response {
  const body = [
    `retry: ${retryMs}\n`,
    'event: outlast.open\ndata: {"heartbeatMs":1000,"maxStreamMs":null,"resume":"fresh"}\n\n',
    ...ids.map((id) => `id: ${id}\ndata: ${id}\n\n`),
  ].join('');
  return new Response(enc.encode(body), {
    headers: { 'content-type': 'text/event-stream', 'outlast-heartbeat': '1000' },
  });
}

/** A client on the fake clock (jitter 0.5, backoff from 500 ms) and its reconnect notices. */
function watchReconnects(
  stream: string,
  fetch: () => Promise<Response>,
  clock: ReturnType<typeof fakeClock>,
): ReconnectNotice[] {
  const conn = connect(`http://fake.test/outlast/streams/${stream}`, {
    fetch,
    clock,
    random: () => 0.5,
    reports: false,
    profile: null,
    learn: false,
    initialDelayMs: 500,
  });
  cleanups.push(() => conn.close());
  const waits: ReconnectNotice[] = [];
  conn.on('reconnecting', (r) => waits.push(r));
  return waits;
}

/** Runs a client whose requests meet `script` in order, waiting out its first `count` reconnects. */
async function runScript(
  stream: string,
  script: Array<() => Response>,
  clock: ReturnType<typeof fakeClock>,
  count: number,
): Promise<ReconnectNotice[]> {
  let requests = 0;
  const fetch = async (): Promise<Response> => script[Math.min(requests++, script.length - 1)]!();
  const waits = watchReconnects(stream, fetch, clock);
  for (let n = 1; n <= count; n++) {
    await until(() => waits.length === n, `reconnect ${n}`);
    clock.advance(waits[n - 1]!.delayMs);
    await until(() => requests === n + 1, `request ${n + 1}`);
  }
  return waits;
}

describe('reconnect policy', () => {
  it('reconnects at once after a healthy cut, backs off only over failures in a row', async () => {
    const clock = fakeClock();
    // What each request meets, in order: a healthy stream, three failures, a healthy stream.
    const script: Array<() => Response> = [
      () => healthy(['0:1']),
      () => {
        throw new TypeError('fetch failed');
      },
      () => {
        throw new TypeError('fetch failed');
      },
      () => new Response('restarting', { status: 503 }),
      () => healthy(['0:2']),
    ];
    let requests = 0;
    const fetch = async (): Promise<Response> => {
      const step = script[Math.min(requests++, script.length - 1)]!;
      return step();
    };
    const waits = watchReconnects('a', fetch, clock);
    const step = async (n: number, delay: number) => {
      await until(() => waits.length === n, `reconnect ${n}`);
      expect(waits[n - 1]!.delayMs).toBe(delay);
      clock.advance(Math.max(0, delay - 1));
      if (delay > 0) expect(requests).toBe(n);
      clock.advance(1);
      await until(() => requests === n + 1, `request ${n + 1}`);
    };
    // Healthy cut: at once, the server's retry: is not waited out.
    await step(1, 0);
    // Failures in a row (refused, refused, 503): full jitter over 500, 1 000, 2 000 ms; the
    // server's retry: 100 is no floor (and 2 x 100 < initialDelayMs: it does not widen them).
    await step(2, 250);
    await step(3, 500);
    await step(4, 1_000);
    // Healthy again: the count is reset, at once again.
    await step(5, 0);
    expect(waits.slice(0, 5).map((w) => [w.cause, w.attempt])).toEqual([
      ['mid-stream-eof', 0],
      ['network-error', 1],
      ['network-error', 2],
      ['intermediary-error', 3],
      ['mid-stream-eof', 0],
    ]);
  });

  it('a path that cuts every connection at once falls back to backoff', async () => {
    const clock = fakeClock();
    let requests = 0;
    let seq = 0;
    const fetch = async (): Promise<Response> => {
      requests++;
      return healthy([`0:${++seq}`]);
    };
    const waits = watchReconnects('b', fetch, clock);
    for (let n = 1; n <= 7; n++) {
      await until(() => waits.length === n, `reconnect ${n}`);
      clock.advance(waits[n - 1]!.delayMs);
      await until(() => requests === n + 1, `request ${n + 1}`);
    }
    // Five quick healthy cuts in a row reconnect at once; from the sixth the backoff counts.
    expect(waits.slice(0, 7).map((w) => w.delayMs)).toEqual([0, 0, 0, 0, 0, 250, 500]);
  });

  it("a hop's 502/504 right after a healthy cut is retried within tens of ms; retry: is no floor", async () => {
    const clock = fakeClock();
    // The server says retry: 1000 (for EventSource). A hop answers the reconnects 504, 502,
    // 504 before any header, then lets one through.
    const script: Array<() => Response> = [
      () => healthy(['0:1'], 1_000),
      () => new Response('', { status: 504, headers: { server: 'awselb/2.0' } }),
      () => new Response('', { status: 502 }),
      () => new Response('', { status: 504 }),
      () => healthy(['0:2'], 1_000),
      () => new Response('', { status: 504 }),
      () => healthy(['0:3'], 1_000),
    ];
    const waits = await runScript('h', script, clock, 6);
    // hopRetryDelayMs 25, jitter 0.5: 12.5, 25, 50 over failures in a row; a healthy stream
    // resets the count.
    expect(waits.slice(0, 6).map((w) => [w.cause, w.delayMs, w.attempt])).toEqual([
      ['mid-stream-eof', 0, 0],
      ['intermediary-error', 12.5, 1],
      ['intermediary-error', 25, 2],
      ['intermediary-error', 50, 3],
      ['mid-stream-eof', 0, 0],
      ['intermediary-error', 12.5, 1],
    ]);
  });

  it("what a restart meets (refused, 503) spreads over the retry: window; the server's Retry-After is waited out", async () => {
    const clock = fakeClock();
    const script: Array<() => Response> = [
      () => healthy(['0:1'], 1_000),
      () => {
        throw new TypeError('fetch failed: ECONNREFUSED');
      },
      () => new Response('', { status: 503 }),
      // The outlast server itself, draining: its JSON code and Retry-After.
      () =>
        new Response(JSON.stringify({ error: { code: 'draining', message: 'draining' } }), {
          status: 503,
          headers: { 'content-type': 'application/json', 'retry-after': '3' },
        }),
      // A hop's 504 with Retry-After: waited out too.
      () => new Response('', { status: 504, headers: { 'retry-after': '1' } }),
      () => healthy(['0:2'], 1_000),
    ];
    const waits = await runScript('u', script, clock, 5);
    // Window max(initialDelayMs 500, 2 x retry: 1 000) doubled per failure, jitter 0.5; the
    // Retry-After goes first.
    expect(waits.slice(0, 5).map((w) => [w.cause, w.delayMs])).toEqual([
      ['mid-stream-eof', 0],
      ['network-error', 1_000],
      ['intermediary-error', 2_000],
      ['server-error', 3_000 + 4_000],
      ['intermediary-error', 1_000 + 8_000],
    ]);
  });

  it.each(['fin', 'rst'] as const)(
    'resumes within milliseconds after a %s cut of a healthy stream (real sockets)',
    async (how) => {
      const server = await startTestServer({ heartbeatMs: 200 });
      cleanups.push(() => server.close());
      const cutter = await startCutter(Number(new URL(server.origin).port));
      cleanups.push(() => cutter.close());
      // A long backoff window: a reconnect that waited it out would be seconds late.
      const conn = connect(
        `${cutter.origin}/outlast/streams/r`,
        testOptions({ initialDelayMs: 3_000, maxDelayMs: 3_000, learn: false }),
      );
      cleanups.push(() => conn.close());
      const got: Array<ClientEvent & { at: number }> = [];
      const reading = (async () => {
        for await (const e of conn) got.push({ ...e, at: performance.now() });
      })();
      const lateness: number[] = [];
      for (let i = 0; i < 4; i++) {
        await server.outlast.publish('r', { data: i });
        await until(() => got.length === i + 1, `event ${i}`);
        await sleep(60);
        const cutAt = performance.now();
        cutter.cutAll(how);
        // Published right after the cut: it can only arrive over the next connection.
        await server.outlast.publish('r', { data: `after-${i}` });
        await until(() => got.length === i + 2, `the event after cut ${i}`, 10_000);
        lateness.push(got[i + 1]!.at - cutAt);
        await server.outlast.publish('r', { data: `pad-${i}` });
        await until(() => got.length === i + 3, 'padding');
        got.splice(i + 1, 2);
      }
      await server.outlast.end('r');
      await reading;
      const worst = Math.max(...lateness);
      console.log(`${how} cut to next event: ${lateness.map((l) => l.toFixed(0)).join(', ')} ms`);
      // 50 ms goal plus a round trip on loopback; a loaded machine gets generous slack, still
      // far below the 3 s backoff window the old policy waited out (mean 1.5 s).
      expect(worst).toBeLessThan(400);
    },
    30_000,
  );
});
