/** Settings of {@link Backoff}. */
export interface BackoffSettings {
  initialDelayMs: number;
  maxDelayMs: number;
  healthyAfterMs: number;
}

/**
 * Reconnect delays: full jitter over an exponential cap, on top of a floor.
 *
 * - delay = floor + random() x min(maxDelayMs, initialDelayMs x 2^failures). Full jitter
 *   (AWS Architecture Blog, "Exponential Backoff And Jitter") spreads clients that lost their
 *   connections at the same moment over the whole window instead of a spike at each step.
 * - floor: the server's `retry:` hint, or its `Retry-After`. The jitter goes on top of it, not
 *   under it: `max(floor, jitter)` would send every client back at exactly `floor`.
 * - a connection that stayed up `healthyAfterMs` resets the count: one cut after an hour of
 *   streaming is not the fifth failure in a row.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly s: BackoffSettings,
    private readonly random: () => number,
  ) {}

  /** Consecutive failed or short-lived connections so far. */
  get attempts(): number {
    return this.failures;
  }

  /**
   * The next delay, then counts one more failure. `baseMs`: the first window (default
   * `initialDelayMs`), doubled per failure in a row.
   */
  next(floorMs: number, baseMs = this.s.initialDelayMs): number {
    const cap = Math.min(this.s.maxDelayMs, baseMs * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, 52);
    return Math.max(0, floorMs) + this.random() * cap;
  }

  /** A connection ended after `livedMs`: a healthy one resets the count. */
  lived(livedMs: number): void {
    if (livedMs >= this.s.healthyAfterMs) this.failures = 0;
  }

  /** Forgets every failure (the path changed: new transport, new policy). */
  reset(): void {
    this.failures = 0;
  }
}
