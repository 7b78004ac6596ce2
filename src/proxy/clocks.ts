import type { Timers } from './timers.js';

/** Marks an idle verdict waiting for pending I/O (not a timer handle). */
const IDLE_DEFERRED = Symbol('idle-deferred');

/** Which clock fired. */
export type ClockKind = 'idle' | 'total' | 'first-byte';

/** The effective (already scaled) clocks of one exchange. */
export interface ClockSettings {
  idleMs: number | null;
  totalMs: number | null;
  firstByteMs: number | null;
  totalMode: 'timer' | 'write-deadline';
}

/**
 * The three clocks of one exchange (or one WebSocket tunnel): idle (reset by bytes), total
 * (from the request, never reset) and first byte (until response headers).
 *
 * Performance: `touch()` runs for every chunk, so it only records the time. The idle timer is
 * armed once and, when it fires early because bytes came meanwhile, re-armed for the rest
 * of the window: one timer per idle window instead of one per chunk.
 */
export class ExchangeClocks {
  private readonly startedAt: number;
  private lastActivity: number;
  private idleTimer: unknown = null;
  private totalTimer: unknown = null;
  private firstByteTimer: unknown = null;
  private stopped = false;

  constructor(
    private readonly timers: Timers,
    private readonly settings: ClockSettings,
    private readonly onFire: (kind: ClockKind) => void,
  ) {
    this.startedAt = timers.now();
    this.lastActivity = this.startedAt;
    const { idleMs, totalMs, firstByteMs, totalMode } = settings;
    if (idleMs !== null) this.idleTimer = timers.setTimeout(() => this.checkIdle(), idleMs);
    if (totalMs !== null && totalMode === 'timer') {
      this.totalTimer = timers.setTimeout(() => this.fire('total'), totalMs);
    }
    if (firstByteMs !== null) {
      this.firstByteTimer = timers.setTimeout(() => {
        // As for idle: a head already waiting in the socket wins over the timer.
        if (timers.defer === undefined) this.fire('first-byte');
        else {
          timers.defer(() => {
            if (this.firstByteTimer !== null) this.fire('first-byte');
          });
        }
      }, firstByteMs);
    }
  }

  /** Bytes went through (either direction): the idle window starts again. */
  touch(): void {
    this.lastActivity = this.timers.now();
  }

  /** The response headers arrived: the first-byte clock stops. */
  headersReceived(): void {
    if (this.firstByteTimer !== null) {
      this.timers.clearTimeout(this.firstByteTimer);
      this.firstByteTimer = null;
    }
  }

  /** For a `write-deadline` total clock: whether the next write must fail. */
  deadlinePassed(): boolean {
    const { totalMs, totalMode } = this.settings;
    return (
      totalMode === 'write-deadline' &&
      totalMs !== null &&
      this.elapsed() >= totalMs &&
      !this.stopped
    );
  }

  /** Milliseconds since the request arrived. */
  elapsed(): number {
    return this.timers.now() - this.startedAt;
  }

  /** Stops every clock (the exchange ended or was cut). Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.idleTimer, this.totalTimer, this.firstByteTimer]) {
      if (t !== null && t !== IDLE_DEFERRED) this.timers.clearTimeout(t);
    }
    this.idleTimer = this.totalTimer = this.firstByteTimer = null;
  }

  private checkIdle(deferred = false): void {
    this.idleTimer = null;
    if (this.stopped) return;
    const idleMs = this.settings.idleMs!;
    const quiet = this.timers.now() - this.lastActivity;
    if (quiet < idleMs - 0.5) {
      this.idleTimer = this.timers.setTimeout(() => this.checkIdle(), idleMs - quiet);
      return;
    }
    // Node runs due timers before it reads sockets: on a busy machine bytes that arrived in
    // time would otherwise lose to the timer. Decide once pending I/O has been handled.
    if (!deferred && this.timers.defer !== undefined) {
      this.idleTimer = IDLE_DEFERRED;
      this.timers.defer(() => this.checkIdle(true));
      return;
    }
    this.fire('idle');
  }

  private fire(kind: ClockKind): void {
    if (this.stopped) return;
    this.stop();
    this.onFire(kind);
  }
}
