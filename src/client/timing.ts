import type { PathProfile } from './profile.js';
import { stallTimeout } from './stall.js';
import { emptyPollPauseMs, type TransportName } from './transport.js';

/** The options the timing reads. */
export interface TimingOptions {
  heartbeatMs: number | null;
  maxStreamMs: number | null;
  pollWaitMs: number;
  stallFactor: number;
  stallTimeoutMs: number | null;
  openTimeoutMs: number;
  holdTimeoutMs: number | null;
}

/** The hold bound is at least this many measured round trips. */
const HOLD_RTTS = 4;

/**
 * What each attempt asks the server for (heartbeat, rotation, long-poll hold) and how long
 * the stall watchdog waits at each step of a connection: the options, lowered by what the
 * path profile learned.
 */
export class PathTiming {
  constructor(
    private readonly o: TimingOptions,
    private readonly profile: PathProfile,
  ) {}

  /** The heartbeat to ask for: the smaller of the option and the learned one. */
  heartbeat(): number | null {
    return smallest(this.o.heartbeatMs, this.profile.heartbeatMs);
  }

  /** The rotation to ask for over `name`: the option or below a learned total clock. */
  maxStream(name: TransportName): number | null {
    return smallest(this.o.maxStreamMs, this.profile.maxStreamMs[name] ?? null);
  }

  /** How long each long-poll may be held. */
  pollWait(): number {
    return Math.min(
      this.o.pollWaitMs,
      this.heartbeat() ?? Number.POSITIVE_INFINITY,
      this.maxStream('poll') ?? Number.POSITIVE_INFINITY,
    );
  }

  /**
   * How long an attempt on an outlast route may go without opening (headers and the open
   * notice, which outlast servers flush at once) before a hop is taken to hold it:
   * max(holdTimeoutMs, 4 x the measured round trip).
   */
  holdBound(rttMs: number | null): number {
    return Math.max(this.o.holdTimeoutMs ?? 0, HOLD_RTTS * (rttMs ?? 0));
  }

  /** Watchdog while waiting for a connection to open (headers, socket). */
  opening(): number {
    return this.o.openTimeoutMs;
  }

  /**
   * Watchdog once headers are in without a heartbeat announcement: SSE from a plain server
   * is open (the stall option applies), other transports still wait for their open notice.
   */
  afterHeaders(name: TransportName): number | null {
    return name === 'sse' ? this.o.stallTimeoutMs : this.o.openTimeoutMs;
  }

  /**
   * Watchdog for an announced heartbeat: k heartbeats; for long-polling k + 1 poll rounds,
   * a round being the hold or, for polls answered early, the pause between them (a watchdog
   * shorter than that pause would cut every poll and reopen at once: a loop).
   */
  forHeartbeat(name: TransportName, heartbeatMs: number): number {
    const k = this.o.stallFactor;
    if (name !== 'poll') return stallTimeout(heartbeatMs, k);
    const wait = this.pollWait();
    return stallTimeout(Math.max(wait, emptyPollPauseMs(wait)), 1 + k);
  }
}

function smallest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
