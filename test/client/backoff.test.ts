import { describe, expect, it } from 'vitest';
import { Backoff, connect } from '../../src/client/index.js';
import { StallTimer } from '../../src/client/stall.js';
import { sleep, testOptions, until } from './helpers.js';

describe('Backoff', () => {
  const settings = { initialDelayMs: 100, maxDelayMs: 1_000, healthyAfterMs: 5_000 };

  it('full jitter over an exponential cap, on top of the retry floor', () => {
    const top = new Backoff(settings, () => 0.999_999);
    expect([1, 2, 3, 4, 5, 6].map(() => Math.round(top.next(0)))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    const bottom = new Backoff(settings, () => 0);
    expect(bottom.next(250)).toBe(250);
    expect(bottom.next(250)).toBe(250);
    const mid = new Backoff(settings, () => 0.5);
    expect(mid.next(1_000)).toBe(1_050);
  });

  it('resets after a healthy connection, not after a short one', () => {
    const b = new Backoff(settings, () => 1);
    b.next(0);
    b.next(0);
    b.lived(100);
    expect(b.attempts).toBe(2);
    b.lived(5_000);
    expect(b.attempts).toBe(0);
    expect(b.next(0)).toBe(100);
  });
});

describe('StallTimer', () => {
  it('fires after the timeout without bytes, and not while bytes come', async () => {
    const fired: number[] = [];
    const start = Date.now();
    const t = new StallTimer(
      {
        now: Date.now,
        setTimeout: (f, ms) => setTimeout(f, ms),
        clearTimeout: (h) => clearTimeout(h as never),
      },
      () => fired.push(Date.now() - start),
    );
    // Generous: a touch every 50 ms against a 400 ms timeout survives a loaded machine.
    t.arm(400);
    for (let i = 0; i < 6; i++) {
      await sleep(50);
      t.touch();
    }
    expect(fired).toEqual([]);
    await until(() => fired.length === 1, 'the stall');
    expect(fired[0]!).toBeGreaterThanOrEqual(300 + 390);
    t.stop();
  });
});

/**
 * A fake outlast SSE endpoint in memory: every response stays open until `restart()`, which
 * cuts them all at the same instant and then, while the server is down, refuses every request
 * (a reset, or a balancer's 503) for `downMs`.
 */
function fakeServer() {
  const open = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const requests: Array<{ client: number; at: number; ok: boolean }> = [];
  const enc = new TextEncoder();
  let down: { until: number; how: 'rst' | '503' } | null = null;
  return {
    requests,
    fetchFor(client: number) {
      return async (_url: string, init?: RequestInit): Promise<Response> => {
        const at = performance.now();
        const ok = down === null || at >= down.until;
        requests.push({ client, at, ok });
        if (!ok && down!.how === 'rst') throw new TypeError('fetch failed: ECONNRESET');
        if (!ok) return new Response('restarting', { status: 503 });
        let ctl!: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            ctl = c;
            open.add(c);
            c.enqueue(
              enc.encode(
                'retry: 100\nevent: outlast.open\ndata: {"heartbeatMs":5000,"resume":"fresh"}\n\nid: 0:1\ndata: x\n\n',
              ),
            );
          },
          cancel() {
            open.delete(ctl);
          },
        });
        init?.signal?.addEventListener('abort', () => open.delete(ctl));
        return new Response(body, {
          headers: { 'content-type': 'text/event-stream', 'outlast-heartbeat': '5000' },
        });
      };
    },
    restart(how: 'rst' | '503', downMs: number) {
      const at = performance.now();
      down = { until: at + downMs, how };
      for (const c of open) c.close();
      open.clear();
      return at;
    },
    get openCount() {
      return open.size;
    },
  };
}

/** The most arrivals in any 50 ms window (sliding), and the quantiles, of delays in ms. */
function spread(delays: number[]) {
  const d = [...delays].sort((a, b) => a - b);
  let busiest = 0;
  for (let i = 0, j = 0; i < d.length; i++) {
    while (d[i]! - d[j]! >= 50) j++;
    busiest = Math.max(busiest, i - j + 1);
  }
  const q = (p: number) => Math.round(d[Math.floor(p * (d.length - 1))]!);
  return { busiest, q };
}

describe('no reconnect storm', () => {
  it.each(['rst', '503'] as const)(
    '1 000 healthy clients cut by a restart (%s): at once, then spread once the reconnect fails',
    async (how) => {
      const N = 1_000;
      // Longer than a loaded machine takes to deliver 1 000 cuts: every first reconnect meets
      // the restart.
      const DOWN_MS = 2_000;
      const fake = fakeServer();
      const conns = Array.from({ length: N }, (_, i) =>
        connect('http://fake.test/outlast/streams/s', {
          ...testOptions({ initialDelayMs: 1_000, maxDelayMs: 10_000, learn: false }),
          fetch: fake.fetchFor(i),
        }),
      );
      await until(() => fake.openCount === N, 'every client to connect', 10_000);
      // When each client means to send its reconnect after its first failure: the policy's
      // spread, apart from the clumps a loaded event loop adds to the real arrivals.
      const planned: number[] = [];
      const atOnce: number[] = [];
      for (const c of conns) {
        c.on('reconnecting', (r) => {
          if (r.attempt === 0) atOnce.push(r.delayMs);
          if (r.attempt === 1) planned.push(performance.now() + r.delayMs - cutAt);
        });
      }
      const cutAt = fake.restart(how, DOWN_MS);
      await until(() => fake.openCount === N, 'every client to reconnect', 20_000);
      for (const c of conns) c.close();
      const after = fake.requests.slice(N);
      const first = new Map<number, number>();
      for (const r of after) if (!first.has(r.client)) first.set(r.client, r.at - cutAt);
      const immediate = spread([...first.values()]);
      const back = spread(after.filter((r) => r.ok).map((r) => r.at - cutAt));
      const plan = spread(planned);
      const pct = (n: number) => `${((100 * n) / N).toFixed(1)} %`;
      console.log(
        `restart (${how}): first reconnects p50 ${immediate.q(0.5)} ms, p90 ${immediate.q(0.9)} ms; ` +
          `retries after the failure planned p10 ${plan.q(0.1)}, p50 ${plan.q(0.5)}, p90 ${plan.q(0.9)} ms, busiest 50 ms ${pct(plan.busiest)}; ` +
          `successful reconnects p10 ${back.q(0.1)}, p50 ${back.q(0.5)}, max ${back.q(1)} ms, busiest 50 ms ${pct(back.busiest)}`,
      );
      // The healthy connections reconnected at once (one process delivering 1 000 cuts takes
      // a few hundred ms on a loaded machine, hence the loose bound on the arrivals)...
      expect(atOnce).toEqual(Array(N).fill(0));
      expect(immediate.q(0.9)).toBeLessThan(DOWN_MS);
      // ...met the restart (a reset, or a 503: what a restart answers, not a hop's 502/504),
      // and from that failure on the full jitter (window 1 s) spread them: uniform would put
      // ~5 % in a 50 ms window.
      expect(planned.length).toBe(N);
      expect(plan.q(0.9) - plan.q(0.1)).toBeGreaterThan(500);
      expect(plan.busiest).toBeLessThanOrEqual(N * 0.1);
      // What the restarted server met: nothing before it was up, no spike of everyone after
      // (the real arrivals clump where a loaded event loop fires timers late and together).
      expect(back.q(0)).toBeGreaterThanOrEqual(DOWN_MS);
      expect(back.busiest).toBeLessThan(N * 0.4);
    },
    60_000,
  );
});
