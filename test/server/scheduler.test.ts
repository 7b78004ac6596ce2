import { describe, expect, it } from 'vitest';
import { TimerWheel, type WheelEntry } from '../../src/server/index.js';

/** A fake clock and interval timer: the wheel is driven by hand. */
function fakeTimers() {
  let now = 1_000_000;
  let handle: (() => void) | undefined;
  let armed = 0;
  return {
    now: () => now,
    advance(ms: number, step: number) {
      for (let t = 0; t < ms; t += step) {
        now += step;
        handle?.();
      }
    },
    get armed() {
      return armed;
    },
    timers: {
      setInterval: (fn: () => void) => {
        handle = fn;
        armed++;
        return 1;
      },
      clearInterval: () => {
        handle = undefined;
        armed--;
      },
    },
  };
}

function entry(log: number[], wheel: TimerWheel, every: number | null): WheelEntry {
  const e: WheelEntry = {
    due: 0,
    slot: -1,
    fire(now) {
      log.push(now);
      if (every !== null) wheel.schedule(e, now + every);
    },
  };
  return e;
}

describe('TimerWheel', () => {
  it('fires every entry on time, up to one tick early, never late', () => {
    const f = fakeTimers();
    const wheel = new TimerWheel({ tickMs: 50, now: f.now, timers: f.timers });
    const start = f.now();
    const logs: number[][] = [];
    for (const interval of [100, 333, 1000, 60_000]) {
      const log: number[] = [];
      logs.push(log);
      wheel.schedule(entry(log, wheel, interval), start + interval);
    }
    f.advance(130_000, 50);
    const intervals = [100, 333, 1000, 60_000];
    logs.forEach((log, i) => {
      const interval = intervals[i]!;
      expect(log.length).toBeGreaterThanOrEqual(Math.floor(130_000 / interval));
      let previous = start;
      for (const t of log) {
        expect(t - previous).toBeLessThanOrEqual(interval);
        expect(t - previous).toBeGreaterThanOrEqual(interval - 50);
        previous = t;
      }
    });
  });

  it('holds one timer for any number of entries and stops it when empty', () => {
    const f = fakeTimers();
    const wheel = new TimerWheel({ tickMs: 10, now: f.now, timers: f.timers });
    const entries = Array.from({ length: 10_000 }, () => entry([], wheel, 100));
    for (const e of entries) wheel.schedule(e, f.now() + 100);
    expect(f.armed).toBe(1);
    expect(wheel.size).toBe(10_000);
    f.advance(500, 10);
    for (const e of entries) wheel.cancel(e);
    expect(wheel.size).toBe(0);
    expect(f.armed).toBe(0);
  });

  it('catches up after a stalled event loop without firing twice', () => {
    const f = fakeTimers();
    const wheel = new TimerWheel({ tickMs: 10, now: f.now, timers: f.timers });
    const log: number[] = [];
    wheel.schedule(entry(log, wheel, 100), f.now() + 100);
    f.advance(500, 500); // one late tick
    expect(log.length).toBe(1);
    f.advance(100, 10);
    expect(log.length).toBe(2);
  });

  it('reschedules and cancels', () => {
    const f = fakeTimers();
    const wheel = new TimerWheel({ tickMs: 10, now: f.now, timers: f.timers });
    const log: number[] = [];
    const e = entry(log, wheel, null);
    wheel.schedule(e, f.now() + 50);
    wheel.schedule(e, f.now() + 200);
    f.advance(100, 10);
    expect(log).toEqual([]);
    wheel.cancel(e);
    f.advance(300, 10);
    expect(log).toEqual([]);
  });
});
