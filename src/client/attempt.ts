import type { CutCause, CutReport } from './causes.js';
import type { CloseInfo, Transport, TransportName } from './transport.js';

/** Heartbeats whose server times span this many intervals but arrive together: a burst. */
const BURSTS_FOR_BUFFERING = 2;

/**
 * One connection attempt's bookkeeping: when it started and opened, what it carried, and
 * whether its heartbeats come in bursts. Turns into the {@link CutReport} when it is lost.
 */
export class Attempt {
  transport: Transport;
  openedAt: number | null = null;
  lastByteAt: number | null = null;
  bytes = 0;
  events = 0;
  heartbeats = 0;
  /** The heartbeat in effect, ms (announced by the headers or the open notice). */
  heartbeatMs: number | null = null;
  /** Burst detector: the previous heartbeat's server time and arrival time. */
  private lastBeat: { server: number; local: number } | null = null;
  private bursts = 0;

  constructor(
    readonly name: TransportName,
    readonly startedAt: number,
  ) {
    this.transport = { name, close() {} };
  }

  /** The server's open notice came (for a plain SSE server: its response). */
  announced = false;

  /** A racer was started beside this attempt for its bursts (once per attempt). */
  raced = false;
  /** The request may ride a kept-alive connection an earlier response left. */
  reusedConnection = false;

  /**
   * A healthy connection: it opened through the whole path (the open notice came) or carried
   * the stream (an event or a heartbeat). Its cut is not a failure of the path.
   */
  get healthy(): boolean {
    return this.announced || this.events + this.heartbeats > 0;
  }

  bytesIn(count: number, now: number): void {
    this.bytes += count;
    this.lastByteAt = now;
  }

  /**
   * Counts a heartbeat; `true` once heartbeats written an interval apart were read together
   * often enough: a hop holds the stream and releases it in bursts, which heartbeats cannot fix.
   */
  beat(serverMs: number | null, now: number): boolean {
    this.heartbeats++;
    if (serverMs === null || this.name !== 'sse' || this.heartbeatMs === null) return false;
    const prev = this.lastBeat;
    this.lastBeat = { server: serverMs, local: now };
    if (prev === null) return false;
    const sent = serverMs - prev.server;
    if (sent >= this.heartbeatMs / 2 && now - prev.local < sent / 4) this.bursts++;
    return this.bursts >= BURSTS_FOR_BUFFERING;
  }

  /** The report of this attempt's loss. */
  report(cause: CutCause, info: CloseInfo | null, origin: string, now: number): CutReport {
    const report: CutReport = {
      cause,
      transport: this.name,
      atMs: Date.now(),
      sinceOpenMs: now - (this.openedAt ?? this.startedAt),
      sinceLastByteMs: now - (this.lastByteAt ?? this.openedAt ?? this.startedAt),
      sinceRequestMs: now - this.startedAt,
      origin,
      opened: this.openedAt !== null,
      bytes: this.bytes,
      events: this.events,
      heartbeats: this.heartbeats,
      heartbeatMs: this.heartbeatMs,
    };
    if (info?.status !== undefined) report.status = info.status;
    if (info?.server !== undefined && info.server !== null) report.server = info.server;
    if (info?.message !== undefined) report.message = info.message;
    if (this.reusedConnection) report.reusedConnection = true;
    return report;
  }
}
