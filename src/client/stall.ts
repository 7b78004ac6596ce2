import type { Clock } from './options.js';

/**
 * A watchdog: fires when no byte arrived for `timeoutMs`. Bytes only record the time (no
 * timer churn per chunk); the timer, when it fires early, re-arms for the rest of the window.
 *
 * The timeout is k times the heartbeat the server announced: a live connection carries at
 * least one byte per heartbeat, so k missed heartbeats mean the bytes are not coming (a
 * silent drop, a dead NAT entry, or a proxy that buffers the stream).
 */
export class StallTimer {
  private handle: unknown = null;
  private last = 0;
  private timeoutMs: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly onStall: () => void,
  ) {}

  /** (Re)starts watching with a new timeout; `null` stops. */
  arm(timeoutMs: number | null): void {
    this.stop();
    this.timeoutMs = timeoutMs;
    this.last = this.clock.now();
    if (timeoutMs !== null) this.schedule(timeoutMs);
  }

  /** Bytes arrived. */
  touch(): void {
    this.last = this.clock.now();
  }

  stop(): void {
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
    this.timeoutMs = null;
  }

  private schedule(ms: number): void {
    this.handle = this.clock.setTimeout(() => this.check(), ms);
  }

  private check(): void {
    this.handle = null;
    const t = this.timeoutMs;
    if (t === null) return;
    const quiet = this.clock.now() - this.last;
    if (quiet >= t - 1) {
      this.timeoutMs = null;
      this.onStall();
    } else this.schedule(t - quiet);
  }
}

/** The stall timeout for an announced heartbeat: k heartbeats, never under 1 tick of slack. */
export function stallTimeout(heartbeatMs: number, factor: number): number {
  return Math.ceil(heartbeatMs * factor);
}
