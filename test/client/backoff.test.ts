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

/** A fake SSE endpoint in memory: every response stays open until `cutAll()`. */
function fakeServer() {
  const open = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const requests: Array<{ client: number; at: number }> = [];
  const enc = new TextEncoder();
  return {
    requests,
    fetchFor(client: number) {
      return async (_url: string, init?: RequestInit): Promise<Response> => {
        requests.push({ client, at: performance.now() });
        let ctl!: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            ctl = c;
            open.add(c);
            c.enqueue(enc.encode('retry: 100\nid: 1\ndata: x\n\n'));
          },
          cancel() {
            open.delete(ctl);
          },
        });
        init?.signal?.addEventListener('abort', () => open.delete(ctl));
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      };
    },
    cutAll() {
      const at = performance.now();
      for (const c of open) c.close();
      open.clear();
      return at;
    },
    get openCount() {
      return open.size;
    },
  };
}

describe('no reconnect storm', () => {
  it('1 000 clients cut at the same moment spread their reconnects over the jitter window', async () => {
    const N = 1_000;
    const fake = fakeServer();
    const conns = Array.from({ length: N }, (_, i) =>
      connect('http://plain.test/events', {
        ...testOptions({ initialDelayMs: 1_000, maxDelayMs: 10_000 }),
        fetch: fake.fetchFor(i),
      }),
    );
    await until(() => fake.openCount === N, 'every client to connect', 10_000);
    const cutAt = fake.cutAll();
    await until(() => fake.requests.length >= 2 * N, 'every client to reconnect', 10_000);
    for (const c of conns) c.close();
    const delays = fake.requests
      .slice(N)
      .map((r) => r.at - cutAt)
      .sort((a, b) => a - b);
    const buckets = new Map<number, number>();
    for (const d of delays)
      buckets.set(Math.floor(d / 50), (buckets.get(Math.floor(d / 50)) ?? 0) + 1);
    const worst50ms = Math.max(...buckets.values());
    const q = (p: number) => Math.round(delays[Math.floor(p * (delays.length - 1))]!);
    console.log(
      `storm: ${N} reconnects after one cut: min ${q(0)} ms, p10 ${q(0.1)}, p50 ${q(0.5)}, p90 ${q(0.9)}, max ${q(1)}; busiest 50 ms window: ${worst50ms} clients (${((100 * worst50ms) / N).toFixed(1)} %)`,
    );
    // Floor at retry: (100 ms), then full jitter over [0, 1000 ms): uniform, no spike. The
    // bounds leave room for a loaded machine, where timers fire late and in clumps.
    expect(q(0)).toBeGreaterThanOrEqual(95);
    expect(q(0.9) - q(0.1)).toBeGreaterThan(500);
    expect(worst50ms).toBeLessThan(N * 0.25);
  }, 60_000);
});
