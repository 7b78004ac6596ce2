import { describe, expect, it } from 'vitest';
import type { PollPace, TransportContext, TransportHandlers } from '../../src/client/transport.js';
import { openLongPoll } from '../../src/client/transports/long-poll.js';

/*
 * The pause after a poll answered empty early belongs to the connection, not to one poll
 * transport: when the connection reopens polling (a cut, a stall), the first poll of the new
 * transport still waits it out.
 */

const empty = JSON.stringify({
  events: [],
  lastEventId: null,
  resume: 'fresh',
  gap: null,
  end: false,
  heartbeatMs: 15_000,
});

function context(pace: PollPace, asked: number[]): TransportContext {
  return {
    url: 'http://server.invalid/outlast/streams/s?transport=poll',
    headers: {},
    lastEventId: null,
    maxLineBytes: 65_536,
    maxEventBytes: 1_048_576,
    pollWaitMs: 0,
    currentLastEventId: () => null,
    pollPace: pace,
    fetch: async () => {
      asked.push(performance.now());
      return new Response(empty, { status: 200 });
    },
    WebSocket: null,
  };
}

const handlers = (): TransportHandlers => ({
  headers() {},
  open() {},
  bytes() {},
  heartbeat() {},
  retry() {},
  event() {},
  gap() {},
  rotate() {},
  end() {},
  closed() {},
});

describe('long-poll pace', () => {
  it('holds across a reopen: the next transport waits out the pause of the last', async () => {
    const pace: PollPace = { notBefore: 0 };
    const asked: number[] = [];
    const first = openLongPoll(context(pace, asked), handlers());
    await new Promise((r) => setTimeout(r, 20));
    first.close();
    expect(asked).toHaveLength(1);
    expect(pace.notBefore).toBeGreaterThan(Date.now());
    const second = openLongPoll(context(pace, asked), handlers());
    await new Promise((r) => setTimeout(r, 250));
    second.close();
    // 100 ms apart at least, however soon the reopen came; and it polls on after that.
    expect(asked.length).toBeGreaterThanOrEqual(2);
    expect(asked.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < asked.length; i++) {
      expect(asked[i]! - asked[i - 1]!).toBeGreaterThanOrEqual(90);
    }
  });

  it('waits at most one pause, even when the wall clock stepped back', async () => {
    const pace: PollPace = { notBefore: Date.now() + 3_600_000 };
    const asked: number[] = [];
    const started = performance.now();
    const transport = openLongPoll(context(pace, asked), handlers());
    await new Promise((r) => setTimeout(r, 400));
    transport.close();
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked[0]! - started).toBeLessThan(350);
  });
});
