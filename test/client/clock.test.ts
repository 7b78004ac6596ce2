import { describe, expect, it } from 'vitest';
import {
  type Clock,
  type CutReport,
  connect,
  type ReconnectNotice,
} from '../../src/client/index.js';
import { until } from './helpers.js';

/** A clock that moves only when told: stall detection and backoff without waiting. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
        if (next === undefined || next[1].at > end) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}

describe('injected clock', () => {
  it('detects a stall at 3 announced heartbeats and backs off on the fake clock only', async () => {
    const clock = fakeClock();
    let requests = 0;
    const silent = async (): Promise<Response> => {
      requests++;
      // Headers announce a 1 s heartbeat, then not one byte.
      return new Response(new ReadableStream(), {
        headers: { 'content-type': 'text/event-stream', 'outlast-heartbeat': '1000' },
      });
    };
    const conn = connect('http://fake.test/outlast/streams/a', {
      fetch: silent,
      clock,
      random: () => 0.5,
      reports: false,
      profile: null,
      learn: false,
      initialDelayMs: 400,
    });
    const cuts: CutReport[] = [];
    const waits: ReconnectNotice[] = [];
    conn.on('cut', (c) => cuts.push(c));
    conn.on('reconnecting', (r) => waits.push(r));
    await until(() => requests === 1, 'the first request');
    await new Promise((r) => setTimeout(r, 20)); // let the response headers be read
    clock.advance(2_999);
    expect(cuts).toEqual([]);
    clock.advance(1);
    expect(cuts.map((c) => [c.cause, c.sinceLastByteMs])).toEqual([['stall', 3_000]]);
    // Full jitter with random() = 0.5 over a 400 ms cap: 200 ms.
    expect(waits.map((w) => w.delayMs)).toEqual([200]);
    clock.advance(199);
    expect(requests).toBe(1);
    clock.advance(1);
    await until(() => requests === 2, 'the reconnect');
    conn.close();
  });
});
