import { OutlastError } from '../errors.js';
import { Backoff } from './backoff.js';
import type { CutCause } from './causes.js';

/** The options the reconnect policy reads. */
export interface ReconnectOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  healthyAfterMs: number;
  maxRetries: number | null;
  reconnectJitterMs: number;
}

/** What the loop knows about a loss when it asks how long to wait. */
export interface Loss {
  cause: CutCause;
  /** How long the lost connection had been open (or trying), ms. */
  sinceOpenMs: number;
  /** The connection opened and carried the stream (events or heartbeats) before it was cut. */
  healthy: boolean;
  /** A lesson changed the path (transport, heartbeat, rotation). */
  pathChanged: boolean;
  /** The server's `retry:` hint or `Retry-After`, ms (0: none). */
  floorMs: number;
  /**
   * The floor applies to the reconnect after a healthy cut too: plain SSE servers, where the
   * spec makes `retry:` the reconnection time. outlast servers send `retry:` for
   * `EventSource`; their floor applies to failed reconnects only.
   */
  floorAlways: boolean;
}

/** The decision: wait `delayMs` (after `attempt` failures in a row), or give up. */
export type ReconnectDecision = { delayMs: number; attempt: number } | { error: OutlastError };

/**
 * Healthy connections shorter than this count as quick: a path that cuts every connection at
 * once is failing, however much each one carries.
 */
const QUICK_MS = 250;
/** Quick healthy cuts in a row that still reconnect at once; past them the backoff counts. */
const QUICK_LIMIT = 5;

/**
 * When to reconnect after a loss (docs/client.md, "Reconnects"):
 * - a rotation the server asked for: at once;
 * - the cut of a healthy connection (its open notice came, or it delivered events or
 *   heartbeats): at once, after a
 *   jitter of at most `reconnectJitterMs` (0 by default). The network was fine a moment ago;
 *   waiting out a backoff window is pure lateness;
 * - a lesson changed the path: at once after a healthy cut (with the new policy), else soon
 *   (jittered over the first window, no growth), since the path was wrong, not the network;
 * - otherwise, consecutive failures: exponential full-jitter backoff, reset by a healthy
 *   connection or one that lived `healthyAfterMs`; `maxRetries` failures in a row give up.
 *
 * Storms stay spread: when a restart cuts many clients at once, their immediate reconnects
 * meet the restarting server (refused, 503) and fail; from that first failure on, the full
 * jitter spreads them over the backoff window.
 */
export class ReconnectPolicy {
  private readonly backoff: Backoff;
  private quick = 0;

  constructor(
    private readonly o: ReconnectOptions,
    private readonly random: () => number,
  ) {
    this.backoff = new Backoff(o, random);
  }

  /** Failed connections in a row. */
  get attempts(): number {
    return this.backoff.attempts;
  }

  next(loss: Loss): ReconnectDecision {
    if (loss.cause === 'server-rotation') {
      this.backoff.reset();
      return { delayMs: 0, attempt: 0 };
    }
    if (loss.pathChanged) {
      // A healthy connection taught a clock (rotate earlier, beat more often): at once with
      // the new policy. A failing one (a transport that cannot open): soon, jittered.
      this.backoff.reset();
      const window = loss.healthy ? this.o.reconnectJitterMs : this.o.initialDelayMs;
      return { delayMs: this.random() * window, attempt: 0 };
    }
    if (loss.healthy) {
      this.quick = loss.sinceOpenMs < QUICK_MS ? this.quick + 1 : 0;
      if (this.quick <= QUICK_LIMIT) {
        this.backoff.reset();
        const floor = loss.floorAlways ? Math.max(0, loss.floorMs) : 0;
        return { delayMs: floor + this.random() * this.o.reconnectJitterMs, attempt: 0 };
      }
    } else this.quick = 0;
    this.backoff.lived(loss.sinceOpenMs);
    if (this.o.maxRetries !== null && this.backoff.attempts >= this.o.maxRetries) {
      return {
        error: new OutlastError(
          'max-retries-exceeded',
          `gave up after ${this.backoff.attempts} failed reconnects in a row (maxRetries); last cause: ${loss.cause}`,
        ),
      };
    }
    const delayMs = this.backoff.next(loss.floorMs);
    return { delayMs, attempt: this.backoff.attempts };
  }
}
