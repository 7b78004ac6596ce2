/**
 * The timer primitives the proxy uses, injectable so tests can drive a fake clock.
 */
export interface Timers {
  /** Schedules `fn` after `ms` milliseconds; returns a handle for {@link Timers.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a handle from {@link Timers.setTimeout}. */
  clearTimeout(handle: unknown): void;
  /** Monotonic milliseconds. */
  now(): number;
}

/** The platform's timers and `performance.now()`. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};
