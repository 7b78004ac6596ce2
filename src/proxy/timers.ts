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
  /**
   * Runs `fn` once pending I/O has been handled (`setImmediate`). A clock that comes due
   * defers its verdict through this, so bytes already waiting in a socket count first, as in
   * nginx's and HAProxy's event loops. Absent: `fn` runs at once.
   */
  defer?(fn: () => void): void;
}

/** The platform's timers and `performance.now()`. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
  defer: (fn) => {
    setImmediate(fn);
  },
};
