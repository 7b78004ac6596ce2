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
  hopRetryDelayMs: number;
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
  /** The HTTP status of a failed answer (before any stream), if one came. */
  status?: number;
  /** The failed answer's `Retry-After`, ms (0: none): always waited out. */
  retryAfterMs: number;
  /** The server's last `retry:` field, ms (0: none). */
  retryHintMs: number;
  /**
   * A plain SSE server: the spec makes `retry:` the reconnection time, the least wait before
   * every reconnect, the one after a healthy cut too. outlast servers send `retry:` for
   * `EventSource`; to this client it is the spread of a storm (see {@link ReconnectPolicy}).
   */
  plainSse: boolean;
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
 * Statuses of a hop that failed this one request: a bad gateway, a gateway's (or Cloudflare's)
 * timeout. Unlike a 503 (unavailable: a restart, an overload) or a refused connection, they
 * say nothing about the server being down, so the retry comes quickly.
 */
const HOP_FAILURES = new Set([502, 504, 522, 524]);

/**
 * How a failed connection is retried: `hop`, a hop failed this request (502/504 before any
 * stream, no `Retry-After`): quick; `unavailable`, anything else (refused, reset, 503, 429, a
 * stall): spread, since it is what a restart's storm meets.
 */
export function failureKind(loss: Loss): 'hop' | 'unavailable' {
  return loss.cause === 'intermediary-error' &&
    loss.status !== undefined &&
    HOP_FAILURES.has(loss.status) &&
    loss.retryAfterMs === 0
    ? 'hop'
    : 'unavailable';
}

/**
 * When to reconnect after a loss (docs/client.md, "Reconnects"):
 * - a rotation the server asked for: at once (rotations right after the open count as
 *   quick cuts, below);
 * - the cut of a healthy connection (its open notice came, or it delivered events or
 *   heartbeats): at once, after a jitter of at most `reconnectJitterMs` (0 by default). The
 *   network was fine a moment ago; waiting out a backoff window is pure lateness;
 * - a lesson changed the path: at once after a healthy cut (with the new policy), else soon
 *   (jittered over the first window, no growth), since the path was wrong, not the network;
 * - otherwise, consecutive failures: exponential full-jitter backoff, reset by a healthy
 *   connection or one that lived `healthyAfterMs`; `maxRetries` failures in a row give up.
 *   The window's first step depends on what the failure says ({@link failureKind}): a hop's
 *   502/504 retries within `hopRetryDelayMs` (tens of ms), anything else within
 *   max(`initialDelayMs`, 2 x the server's `retry:`); each failure in a row doubles it. A
 *   `Retry-After` is waited out first (the jitter goes on top).
 *
 * The SSE spec makes `retry:` the reconnection time. For a plain SSE server it is the least
 * wait before every reconnect. An outlast server sends it for `EventSource`; here it sets
 * the spread of the failures that a restart causes (full jitter over twice it waits it on
 * average) and is never a floor: a floor moves a storm's spike later without spreading it,
 * and makes an isolated cut slow.
 *
 * Storms stay spread: when a restart cuts many clients at once, their immediate reconnects
 * meet the restarting server (refused, reset, 503) and fail; from that first failure on, the
 * full jitter spreads them over the window.
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
    const rotation = loss.cause === 'server-rotation';
    // A rotation is at once too, unless it keeps coming right after the open: a server (or a
    // hop) rotating every response at once would make the client loop without a pause.
    if (rotation && this.atOnce(loss)) {
      this.backoff.reset();
      return { delayMs: 0, attempt: 0 };
    }
    const hint = Math.max(0, loss.retryHintMs);
    if (loss.pathChanged) {
      // A healthy connection taught a clock (rotate earlier, beat more often): at once with
      // the new policy. A failing one (a transport that cannot open): soon, jittered.
      this.backoff.reset();
      const window = loss.healthy ? this.o.reconnectJitterMs : this.o.initialDelayMs;
      return { delayMs: this.random() * window, attempt: 0 };
    }
    if (loss.healthy && !rotation) {
      if (this.atOnce(loss)) {
        this.backoff.reset();
        const floor = loss.plainSse ? hint : 0;
        return { delayMs: floor + this.random() * this.o.reconnectJitterMs, attempt: 0 };
      }
    } else if (!loss.healthy) this.quick = 0;
    this.backoff.lived(loss.sinceOpenMs);
    if (this.o.maxRetries !== null && this.backoff.attempts >= this.o.maxRetries) {
      return {
        error: new OutlastError(
          'max-retries-exceeded',
          `gave up after ${this.backoff.attempts} failed reconnects in a row (maxRetries); last cause: ${loss.cause}`,
        ),
      };
    }
    // Full jitter over twice the server's reconnection time waits it on average.
    const base =
      failureKind(loss) === 'hop'
        ? this.o.hopRetryDelayMs
        : Math.max(this.o.initialDelayMs, 2 * hint);
    const floor = Math.max(loss.retryAfterMs, loss.plainSse ? hint : 0);
    const delayMs = this.backoff.next(floor, base);
    return { delayMs, attempt: this.backoff.attempts };
  }

  /** Counts a healthy loss; `true` while the quick ones in a row are few enough to go at once. */
  private atOnce(loss: Loss): boolean {
    this.quick = loss.sinceOpenMs < QUICK_MS ? this.quick + 1 : 0;
    return this.quick <= QUICK_LIMIT;
  }
}
