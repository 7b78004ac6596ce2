import { describe, expect, it } from 'vitest';
import { holdLimit, ResponseBuffer } from '../../src/proxy/buffering.js';
import {
  type ClockKind,
  ExchangeClocks,
  hopDefaults,
  type Timers,
  validateKnobs,
} from '../../src/proxy/index.js';

/** A fake clock: timers fire only when the test advances time. */
function fakeTimers(): Timers & { advance(ms: number): void } {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = ++seq;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (id) => {
      pending.delete(id as number);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...pending.entries()].sort((a, b) => a[1].at - b[1].at)[0];
        if (next === undefined || next[1].at > end) break;
        pending.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}

function clocks(settings: Partial<ConstructorParameters<typeof ExchangeClocks>[1]>) {
  const t = fakeTimers();
  const fired: Array<[ClockKind, number]> = [];
  const c = new ExchangeClocks(
    t,
    { idleMs: null, totalMs: null, firstByteMs: null, totalMode: 'timer', ...settings },
    (k) => fired.push([k, t.now()]),
  );
  return { t, c, fired };
}

describe('ExchangeClocks (fake clock)', () => {
  it('idle: fires after the quiet window; touch() moves it', () => {
    const { t, c, fired } = clocks({ idleMs: 100 });
    t.advance(60);
    c.touch();
    t.advance(60);
    c.touch();
    t.advance(99);
    expect(fired).toEqual([]);
    t.advance(1);
    expect(fired).toEqual([['idle', 220]]);
  });

  it('total: fires on time whatever the traffic', () => {
    const { t, c, fired } = clocks({ totalMs: 150, idleMs: 100 });
    for (let i = 0; i < 10; i++) {
      t.advance(20);
      c.touch();
    }
    expect(fired).toEqual([['total', 150]]);
  });

  it('first byte: stops at headers', () => {
    const a = clocks({ firstByteMs: 50 });
    a.t.advance(50);
    expect(a.fired).toEqual([['first-byte', 50]]);
    const b = clocks({ firstByteMs: 50 });
    b.t.advance(49);
    b.c.headersReceived();
    b.t.advance(100);
    expect(b.fired).toEqual([]);
  });

  it('write deadline: never fires, only reports', () => {
    const { t, c, fired } = clocks({ totalMs: 100, totalMode: 'write-deadline' });
    t.advance(99);
    expect(c.deadlinePassed()).toBe(false);
    t.advance(500);
    expect(c.deadlinePassed()).toBe(true);
    expect(fired).toEqual([]);
  });

  it('a due idle or first-byte clock lets pending I/O go first (defer)', () => {
    const t = fakeTimers();
    const deferred: Array<() => void> = [];
    const timers = { ...t, defer: (fn: () => void) => deferred.push(fn) };
    const fired: ClockKind[] = [];
    const c = new ExchangeClocks(
      timers,
      { idleMs: 100, totalMs: null, firstByteMs: 100, totalMode: 'timer' },
      (k) => fired.push(k),
    );
    t.advance(100);
    expect(fired).toEqual([]);
    // Bytes (and the head) were waiting in the socket: they are read before the verdict.
    c.touch();
    c.headersReceived();
    for (const fn of deferred.splice(0)) fn();
    expect(fired).toEqual([]);
    t.advance(100);
    for (const fn of deferred.splice(0)) fn();
    expect(fired).toEqual(['idle']);
  });

  it('stop() cancels everything and fires at most once', () => {
    const { t, c, fired } = clocks({ totalMs: 100, idleMs: 50, firstByteMs: 10 });
    t.advance(10);
    t.advance(200);
    expect(fired).toEqual([['first-byte', 10]]);
    c.stop();
    c.stop();
  });
});

describe('buffering', () => {
  const k = { ...hopDefaults };
  it('holdLimit picks the limit per response', () => {
    expect(holdLimit(k, {})).toBeNull();
    expect(holdLimit({ ...k, bufferBytes: 10 }, {})).toBe(10);
    expect(holdLimit({ ...k, holdWhole: true }, {})).toBe(Number.POSITIVE_INFINITY);
    const sse = { 'content-type': 'text/event-stream; charset=utf-8' };
    const types = { ...k, holdWhole: true, bufferTypes: ['text/event-stream'] };
    expect(holdLimit(types, sse)).toBe(Number.POSITIVE_INFINITY);
    expect(holdLimit(types, { 'content-type': 'text/plain' })).toBeNull();
    const optOut = { ...types, bufferOptOut: ['x-accel-buffering', 'no-transform'] as const };
    const opt = { ...optOut, bufferOptOut: [...optOut.bufferOptOut] };
    expect(holdLimit(opt, { ...sse, 'x-accel-buffering': 'no' })).toBeNull();
    expect(holdLimit(opt, { ...sse, 'x-accel-buffering': 'yes' })).not.toBeNull();
    expect(holdLimit(opt, { ...sse, 'cache-control': 'no-cache, no-transform' })).toBeNull();
    expect(holdLimit({ ...types, bufferNeedsGzip: true }, sse, 'identity')).toBeNull();
    expect(holdLimit({ ...types, bufferNeedsGzip: true }, sse, 'gzip, br')).not.toBeNull();
  });

  it('ResponseBuffer releases at the limit and at the end', () => {
    const b = new ResponseBuffer(5);
    expect(b.push(Buffer.from('abc'))).toBeNull();
    expect(b.size).toBe(3);
    expect(b.push(Buffer.from('def'))?.toString()).toBe('abcdef');
    expect(b.push(Buffer.from('g'))).toBeNull();
    expect(b.end()?.toString()).toBe('g');
    expect(b.end()).toBeNull();
  });
});

describe('validateKnobs', () => {
  it('accepts every default and rejects what is out of range', () => {
    expect(() => validateKnobs({ ...hopDefaults })).not.toThrow();
    expect(() => validateKnobs({ idleMs: null, websocketTotalMs: 'inherit' })).not.toThrow();
    for (const bad of [
      { idleMs: -5 },
      { idleMs: 'soon' },
      { timeoutStatus: 99 },
      { resetProbability: 1.5 },
      { cut: 'slam' },
      { bufferOptOut: ['nope'] },
      { fingerprint: 'acme' },
      { addRequestHeaders: { a: 1 } },
      { holdWhole: 'yes' },
      { latencyMs: null },
    ]) {
      expect(() => validateKnobs(bad), JSON.stringify(bad)).toThrow(/invalid|expected/);
    }
    expect(() => validateKnobs([])).toThrow();
    expect(() => validateKnobs({ idle: 5 })).toThrow(/not a knob/);
  });
});
