import { OutlastError } from '../errors.js';
import { Backoff } from './backoff.js';
import type { CutCause } from './causes.js';

/** The options the reconnect policy reads. */
export interface ReconnectOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  healthyAfterMs: number;
  maxRetries: number | null;
}

/** What the loop knows about a loss when it asks how long to wait. */
export interface Loss {
  cause: CutCause;
  /** How long the lost connection had been open (or trying), ms. */
  sinceOpenMs: number;
  /** A lesson changed the path (transport, heartbeat, rotation). */
  pathChanged: boolean;
  /** The server's `retry:` hint or `Retry-After`, ms (0: none). */
  floorMs: number;
}

/** The decision: wait `delayMs` (after `attempt` failures in a row), or give up. */
export type ReconnectDecision = { delayMs: number; attempt: number } | { error: OutlastError };

/**
 * When to reconnect after a loss (docs/client.md, "Reconnects"):
 * - a rotation the server asked for: at once;
 * - a lesson changed the path: soon (jittered over the first window, no growth), since the
 *   path was wrong, not the network;
 * - otherwise exponential full-jitter backoff over the consecutive failures, reset by a
 *   connection that lived `healthyAfterMs`; `maxRetries` failures in a row give up.
 */
export class ReconnectPolicy {
  private readonly backoff: Backoff;

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
      this.backoff.reset();
      return { delayMs: this.random() * this.o.initialDelayMs, attempt: 0 };
    }
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
