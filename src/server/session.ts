import type { EndReason, ServerMetrics, TransportName } from '../metrics/types.js';
import type {
  GapInfo,
  ReadResult,
  Store,
  StoredEvent,
  StoreListener,
  Unsubscribe,
} from '../store/types.js';
import type { OpenInfo } from './frames.js';
import type { TimerWheel, WheelEntry } from './scheduler.js';

/**
 * What a transport (SSE, WebSocket) does for a session. Transports only encode and write;
 * every decision (what to send, when to heartbeat, rotate or give up) is the session's.
 */
export interface Transport {
  readonly name: TransportName;
  open(info: OpenInfo): void;
  gap(gap: GapInfo): void;
  event(event: StoredEvent): void;
  heartbeat(now: number): void;
  /** Sends the rotation notice, then ends the response or closes the socket cleanly. */
  rotate(): void;
  /** Sends the end notice, then ends cleanly. */
  end(): void;
  /** Ends at once without a notice (client gone, too slow, lost stream, shutdown). */
  abort(reason: EndReason): void;
  /** Bytes written but not yet taken by the client's socket. */
  buffered(): number;
  /** Resolves once the outgoing buffer has drained (or the connection is gone). */
  drain(): Promise<void>;
}

/** What sessions share: one per server. */
export interface SessionHub {
  readonly store: Store;
  readonly wheel: TimerWheel;
  readonly metrics: ServerMetrics;
  readonly maxBufferBytes: number;
  readonly readBatch: number;
  /** Wall clock, Unix ms (the heartbeat's `t`). */
  readonly now: () => number;
  /** Monotonic clock: every deadline of a session. */
  readonly monotonicNow: () => number;
  /** Subscribes to the store, counted in the server's stats. */
  subscribe(streamId: string, listener: StoreListener): Promise<Unsubscribe>;
  /** Heartbeats sent since the last flush, by transport (metrics are batched per tick). */
  readonly heartbeatCounts: Record<TransportName, number>;
  onError(error: unknown): void;
  /** A session ended: release its connection slot. */
  release(session: Session): void;
}

/** Live events buffered while a reader catches up from the store; past it the reader is cut. */
const MAX_PENDING = 10_000;

/**
 * One reader of one stream over one transport: catches up from the store without loss or
 * duplicates, then forwards live events, heartbeats and rotates. Transport-neutral.
 *
 * It is its own store listener and its own wheel entry: no closures per connection, which
 * matters at 100 000 connections.
 */
export class Session implements WheelEntry {
  due = 0;
  slot = -1;
  readonly openedAt: number;
  private lastSeq = 0;
  private lastWriteAt: number;
  private rotateAt = Number.POSITIVE_INFINITY;
  private pending: StoredEvent[] | null = [];
  private endSeen = false;
  private closed = false;
  private unsubscribe: Unsubscribe | undefined;
  /** Frees the connection slot; set by the hub when the session is tracked. */
  releaseSlot: (() => void) | undefined;

  constructor(
    private readonly hub: SessionHub,
    readonly transport: Transport,
    readonly streamId: string,
    readonly heartbeatMs: number,
    readonly maxStreamMs: number | null,
    arrivedAt: number = hub.monotonicNow(),
  ) {
    // Counted from the request's arrival (monotonic), not from when authorize and the first
    // read are done: the total-duration clock of the path started then too.
    this.openedAt = arrivedAt;
    this.lastWriteAt = hub.monotonicNow();
  }

  /** True once the session has ended, for whatever reason. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Starts reading after `afterId`. `initial` is a read the caller already made (to answer
   * 404 or 204 before sending headers); the session reads again after subscribing, so events
   * appended in between are not lost.
   */
  async start(afterId: string | null, initial?: ReadResult): Promise<void> {
    const { store, readBatch } = this.hub;
    try {
      this.unsubscribe = await this.hub.subscribe(this.streamId, this);
      if (this.closed) {
        this.unsubscribe();
        return;
      }
      let result = initial ?? (await store.read(this.streamId, afterId, readBatch));
      if (this.closed) return;
      if (result === null) {
        this.close('error');
        return;
      }
      this.hub.metrics.resume(result.resume, result.gap?.reason ?? null);
      this.transport.open({
        heartbeatMs: this.heartbeatMs,
        maxStreamMs: this.maxStreamMs,
        resume: result.resume,
      });
      if (result.gap !== null) this.transport.gap(result.gap);
      // Until an event is written the position is still `afterId`, also after a gap: reading
      // from the start instead would send a reader past a rollback what it already has.
      let cursor = afterId;
      const told = result.gap?.requested ?? null;
      let more = initial !== undefined || result.events.length >= readBatch;
      for (;;) {
        for (const event of result.events) this.write(event);
        if (result.events.length > 0) cursor = result.events.at(-1)!.id;
        if (result.done || !more || this.closed) break;
        if (this.transport.buffered() > this.hub.maxBufferBytes / 2) await this.transport.drain();
        if (this.closed) return;
        const next = await store.read(this.streamId, cursor, readBatch);
        if (this.closed) return;
        if (next === null) {
          this.close('error');
          return;
        }
        // Retention overtook a slow catch-up: say so rather than skip silently.
        if (next.gap !== null && next.gap.requested !== told) this.transport.gap(next.gap);
        result = next;
        more = next.events.length >= readBatch;
      }
      if (this.closed) return;
      const pending = this.pending ?? [];
      this.pending = null;
      for (const event of pending) if (event.seq > this.lastSeq) this.write(event);
      if (result.done || this.endSeen) {
        this.finish();
        return;
      }
      if (this.maxStreamMs !== null) {
        // Rotate one tick before the deadline: the wheel may fire up to a tick early, never
        // late, so the response always ends before `maxStreamMs`.
        this.rotateAt = this.openedAt + this.maxStreamMs - this.hub.wheel.tickMs;
      }
      this.reschedule();
    } catch (error) {
      this.hub.onError(error);
      this.close('error');
    }
  }

  /** Store listener: a live event. */
  event(event: StoredEvent): void {
    if (this.closed) return;
    if (this.pending !== null) {
      if (this.pending.length >= MAX_PENDING) this.close('backpressure');
      else this.pending.push(event);
      return;
    }
    this.write(event);
    if (this.transport.buffered() > this.hub.maxBufferBytes) this.close('backpressure');
  }

  /** Store listener: the stream ended (after its final event). */
  end(): void {
    this.endSeen = true;
    if (!this.closed && this.pending === null) this.finish();
  }

  /** Store listener: the stream's history is gone; the client reconnects and learns more. */
  lost(): void {
    this.close('error');
  }

  /** Wheel entry: heartbeat or rotation time (`now` is the monotonic clock). */
  fire(now: number): void {
    if (this.closed) return;
    const tick = this.hub.wheel.tickMs;
    if (now + tick >= this.rotateAt) {
      this.transport.rotate();
      this.close('rotation');
      return;
    }
    if (now + tick >= this.lastWriteAt + this.heartbeatMs) {
      this.transport.heartbeat(this.hub.now());
      this.hub.heartbeatCounts[this.transport.name]++;
      this.lastWriteAt = now;
      if (this.transport.buffered() > this.hub.maxBufferBytes) {
        this.close('backpressure');
        return;
      }
    }
    this.reschedule();
  }

  /** Drain: tells the client to reconnect now (elsewhere), then ends. */
  rotateNow(): void {
    if (this.closed) return;
    this.transport.rotate();
    this.close('rotation');
  }

  /**
   * The client went away (socket closed, request aborted). An arrow property, so transports
   * can pass it as a listener without a closure of their own.
   */
  readonly clientClosed = (): void => {
    this.close('client-closed');
  };

  /** Ends the session: `abort`s the transport unless it ended by itself. */
  close(reason: EndReason): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    this.hub.wheel.cancel(this);
    this.unsubscribe?.();
    if (reason !== 'client-closed' && reason !== 'rotation' && reason !== 'end') {
      this.transport.abort(reason);
    }
    this.hub.metrics.connectionClosed(
      this.transport.name,
      reason,
      this.hub.monotonicNow() - this.openedAt,
    );
    this.hub.release(this);
  }

  private finish(): void {
    this.transport.end();
    this.close('end');
  }

  private write(event: StoredEvent): void {
    this.transport.event(event);
    this.lastSeq = event.seq;
    this.lastWriteAt = this.hub.monotonicNow();
  }

  private reschedule(): void {
    this.hub.wheel.schedule(this, Math.min(this.lastWriteAt + this.heartbeatMs, this.rotateAt));
  }
}
