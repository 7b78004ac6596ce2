import { describe, expect, it } from 'vitest';
import { type CutReport, connect, type ReconnectNotice } from '../../src/client/index.js';
import { fakeClock, until } from './helpers.js';

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
      // Stall detection alone: no transport raced beside the silent one.
      holdTimeoutMs: null,
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
