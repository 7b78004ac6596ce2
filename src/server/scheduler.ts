/**
 * One timer for every connection's heartbeats and rotation deadline: a hashed timing wheel.
 *
 * Why not a timer per connection: 100 000 connections with a `setTimeout` each means 100 000
 * timer objects re-armed on every heartbeat, each a few hundred bytes and a heap operation in
 * libuv's timer tree. The wheel keeps one interval timer, ticking every `tickMs`, and one Set
 * per slot; an entry lives in the slot of its due time. A tick visits only the slots whose
 * time has come. Entries due more than a revolution ahead simply stay in their slot and are
 * skipped until their turn.
 */

import { unrefTimer } from '../unref.js';

/** Something the wheel fires. */
export interface WheelEntry {
  /** Due time, Unix ms; maintained by the wheel. */
  due: number;
  /** Slot the entry sits in, or -1; maintained by the wheel. */
  slot: number;
  /** Called once the due time is reached (up to one tick early). */
  fire(now: number): void;
}

/** Timer functions the wheel uses; injectable for tests. */
export interface WheelTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const SLOTS = 512;

/** A hashed timing wheel; see the file comment. */
export class TimerWheel {
  readonly tickMs: number;
  private readonly slots: Set<WheelEntry>[] = [];
  private readonly now: () => number;
  private readonly timers: WheelTimers;
  private handle: unknown;
  private count = 0;
  /** Absolute tick number up to which slots have been visited. */
  private cursor: number;
  /** Called after each tick with nothing; hook for batching (metrics). */
  onTickEnd: (() => void) | undefined;

  constructor(options: { tickMs: number; now?: () => number; timers?: WheelTimers }) {
    this.tickMs = Math.max(1, Math.floor(options.tickMs));
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? {
      setInterval: (fn, ms) => unrefTimer(setInterval(fn, ms)),
      clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
    };
    for (let i = 0; i < SLOTS; i++) this.slots.push(new Set());
    this.cursor = Math.floor(this.now() / this.tickMs);
  }

  /** Entries scheduled now. */
  get size(): number {
    return this.count;
  }

  /** Schedules (or reschedules) `entry` at `due`. */
  schedule(entry: WheelEntry, due: number): void {
    if (entry.slot !== -1) this.slots[entry.slot]!.delete(entry);
    else this.count++;
    if (this.handle === undefined) this.cursor = Math.floor(this.now() / this.tickMs);
    entry.due = due;
    // Never behind the cursor: a slot already visited this revolution would wait a full turn.
    const tick = Math.max(Math.floor(due / this.tickMs), this.cursor + 1);
    entry.slot = tick % SLOTS;
    this.slots[entry.slot]!.add(entry);
    if (this.handle === undefined) {
      this.handle = this.timers.setInterval(() => this.tick(), this.tickMs);
    }
  }

  /** Removes `entry`; safe if it is not scheduled. */
  cancel(entry: WheelEntry): void {
    if (entry.slot === -1) return;
    this.slots[entry.slot]!.delete(entry);
    entry.slot = -1;
    this.count--;
    if (this.count === 0) this.stop();
  }

  /** Stops the timer and forgets every entry. */
  clear(): void {
    for (const slot of this.slots) {
      for (const entry of slot) entry.slot = -1;
      slot.clear();
    }
    this.count = 0;
    this.stop();
  }

  /** Visits every slot whose time has come. Public so tests can drive it with a fake clock. */
  tick(): void {
    const now = this.now();
    const target = Math.floor(now / this.tickMs);
    // A late timer (blocked event loop) catches up, but never more than one revolution.
    let from = Math.max(this.cursor + 1, target - SLOTS + 1);
    // Fire up to one tick early: a heartbeat must never come later than asked.
    const horizon = now + this.tickMs;
    const due: WheelEntry[] = [];
    for (; from <= target + 1; from++) {
      const slot = this.slots[from % SLOTS]!;
      if (slot.size === 0) continue;
      for (const entry of slot) {
        if (entry.due > horizon) continue;
        slot.delete(entry);
        entry.slot = -1;
        this.count--;
        due.push(entry);
      }
    }
    this.cursor = target;
    // Fired after the scan, so an entry rescheduled by its own fire() is not seen twice.
    for (const entry of due) entry.fire(now);
    this.onTickEnd?.();
    if (this.count === 0) this.stop();
  }

  private stop(): void {
    if (this.handle !== undefined) {
      this.timers.clearInterval(this.handle);
      this.handle = undefined;
    }
  }
}
