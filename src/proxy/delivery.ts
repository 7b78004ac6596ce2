import type { HopKnobs } from './knobs.js';
import type { Timers } from './timers.js';

/** Where delivered response bytes go: the client side of one exchange. */
export interface DeliverySink {
  /** Writes the response head (status and headers) and pushes it out. */
  writeHead(): void;
  /** Writes bytes; `false` means wait for {@link DeliverySink.onceDrain}. */
  write(chunk: Buffer, callback?: () => void): boolean;
  /** Calls `fn` once the client side can take more. */
  onceDrain(fn: () => void): void;
  /** The response is complete. */
  end(): void;
  /** Ends the connection before the response is complete: FIN or RST. */
  cut(how: 'fin' | 'rst', why: 'reset' | 'write-deadline' | 'clock'): void;
}

/** What a delivery needs from its exchange. */
export interface DeliveryOptions {
  timers: Timers;
  /** The hop's knobs right now (faults follow runtime changes). */
  knobs: () => Readonly<HopKnobs>;
  /** The proxy's time scale right now. */
  scale: () => number;
  sink: DeliverySink;
  /** Body byte count at which the exchange is reset, or null. */
  resetAt: number | null;
  /** Hold the head until the first body bytes (nginx with `proxy_buffering on`). */
  headWaitsForBody: boolean;
  /** Whether a write-deadline total clock has passed. */
  deadlinePassed: () => boolean;
  /** How a write-deadline cut ends the connection. */
  deadlineCut: 'fin' | 'rst';
  /** Stop / restart reading the upstream (backpressure). */
  pauseSource: () => void;
  resumeSource: () => void;
}

interface Entry {
  readyAt: number;
  /** Body bytes, or null for the head. */
  data: Buffer | null;
  offset: number;
}

const HIGH_WATER = 1 << 20;

/**
 * Delivers the response head and body to the client in order, applying the faults (latency
 * and jitter, bandwidth, slicing, reset after N bytes), the write-deadline variant of the total
 * clock, and two behaviours measured on real proxies: nginx holding the head until the first
 * body bytes, and HAProxy's corked writes (`corkMs`).
 *
 * With no fault set, bytes take a fast path straight to the socket (no queue, no timer), so a
 * hop adds almost nothing to a plain stream.
 */
export class Delivery {
  private readonly queue: Entry[] = [];
  private queuedBytes = 0;
  private lastReadyAt = 0;
  private nextSendAt = 0;
  private written = 0;
  private timer: unknown = null;
  private waitingDrain = false;
  private paused = false;
  private ended = false;
  private done = false;
  /** The head was handed to the output (possibly corked). */
  private headOut = false;
  /** Corked output: null stands for the head. */
  private corked: Array<Buffer | null> = [];
  private corkTimer: unknown = null;

  constructor(private readonly o: DeliveryOptions) {}

  /** The upstream's head arrived: queue it (latency applies to it too). */
  head(): void {
    if (this.fast()) {
      this.takeHead();
      return;
    }
    this.queue.push({ readyAt: this.readyAt(), data: null, offset: 0 });
    this.pump();
  }

  /** Body bytes from the upstream (after buffering). */
  push(chunk: Buffer): void {
    if (this.done) return;
    if (this.fast()) {
      if (this.o.deadlinePassed()) {
        this.cut(this.o.deadlineCut, 'write-deadline');
        return;
      }
      this.written += chunk.length;
      if (!this.out(chunk)) this.waitForDrain();
      return;
    }
    this.queue.push({ readyAt: this.readyAt(), data: chunk, offset: 0 });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.o.pauseSource();
    }
    this.pump();
  }

  /** The upstream response ended. */
  end(): void {
    if (this.done) return;
    this.ended = true;
    this.pump();
  }

  /**
   * Ends the connection early (a clock after the upstream's head, a reset, a deadline). What
   * was already handed out goes first: a held head, corked bytes. Queued bytes are lost.
   */
  cut(how: 'fin' | 'rst', why: 'reset' | 'write-deadline' | 'clock'): void {
    if (this.done) return;
    if (how === 'fin') {
      if (!this.headOut) this.outHead();
      this.flushCork();
    }
    this.stop();
    this.o.sink.cut(how, why);
  }

  /** Stops everything without writing (the client left). */
  destroy(): void {
    this.stop();
  }

  /** Body bytes handed to the client so far. */
  get bytesWritten(): number {
    return this.written;
  }

  private fast(): boolean {
    if (this.queue.length > 0 || this.o.resetAt !== null || this.timer !== null) return false;
    const k = this.o.knobs();
    return (
      k.latencyMs === 0 &&
      k.jitterMs === 0 &&
      k.bandwidthBytesPerSec === null &&
      k.sliceBytes === null
    );
  }

  private readyAt(): number {
    const k = this.o.knobs();
    const delay = (k.latencyMs + Math.random() * k.jitterMs) * this.o.scale();
    this.lastReadyAt = Math.max(this.lastReadyAt, this.o.timers.now() + delay);
    return this.lastReadyAt;
  }

  private takeHead(): void {
    // Held heads go out with the first body bytes (`out`), the end or a cut.
    if (!this.o.headWaitsForBody) this.outHead();
  }

  private outHead(): void {
    this.headOut = true;
    if (this.corkMs() !== null) {
      this.corked.push(null);
      this.armCork();
    } else this.o.sink.writeHead();
  }

  /** Hands bytes to the output (the head first if it still waits). */
  private out(chunk: Buffer): boolean {
    if (!this.headOut) this.outHead();
    if (this.corked.length > 0 || this.corkMs() !== null) {
      this.corked.push(chunk);
      this.armCork();
      return true;
    }
    return this.o.sink.write(chunk);
  }

  private corkMs(): number | null {
    const ms = this.o.knobs().corkMs;
    return ms === null ? null : ms * this.o.scale();
  }

  private armCork(): void {
    if (this.corkTimer !== null) return;
    this.corkTimer = this.o.timers.setTimeout(() => {
      this.corkTimer = null;
      this.flushCork();
    }, this.corkMs() ?? 0);
  }

  private flushCork(): void {
    if (this.corkTimer !== null) {
      this.o.timers.clearTimeout(this.corkTimer);
      this.corkTimer = null;
    }
    const ops = this.corked;
    this.corked = [];
    for (const op of ops) {
      if (op === null) this.o.sink.writeHead();
      else this.o.sink.write(op);
    }
  }

  private waitForDrain(): void {
    if (this.waitingDrain) return;
    this.waitingDrain = true;
    this.o.pauseSource();
    this.o.sink.onceDrain(() => {
      this.waitingDrain = false;
      if (this.done) return;
      this.o.resumeSource();
      this.pump();
    });
  }

  private pump(): void {
    if (this.done || this.timer !== null || this.waitingDrain) return;
    const { timers } = this.o;
    while (this.queue.length > 0) {
      const now = timers.now();
      const head = this.queue[0]!;
      const wait = Math.max(head.readyAt, this.nextSendAt) - now;
      if (wait > 0) {
        this.timer = timers.setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      if (head.data === null) {
        this.queue.shift();
        this.takeHead();
        continue;
      }
      if (!this.writePiece(head, now)) return;
    }
    if (this.paused && this.queuedBytes < HIGH_WATER / 2) {
      this.paused = false;
      this.o.resumeSource();
    }
    if (this.ended && this.queue.length === 0) {
      if (this.o.resetAt !== null) {
        // Shorter than its reset point: reset instead of completing.
        this.cut('rst', 'reset');
        return;
      }
      if (!this.headOut) this.outHead();
      this.flushCork();
      this.stop();
      this.o.sink.end();
    }
  }

  /** Writes one piece of the queue's first entry; false when the pump must stop for now. */
  private writePiece(head: Entry, now: number): boolean {
    const k = this.o.knobs();
    const data = head.data!;
    let size = data.length - head.offset;
    if (k.sliceBytes !== null) size = Math.min(size, Math.max(1, k.sliceBytes));
    const bw = k.bandwidthBytesPerSec;
    if (bw !== null) size = Math.min(size, Math.max(1, Math.floor(bw / 100)));
    const resetAt = this.o.resetAt;
    if (resetAt !== null) {
      const remaining = resetAt - this.written;
      if (remaining <= 0) {
        this.cut('rst', 'reset');
        return false;
      }
      size = Math.min(size, remaining);
    }
    if (this.o.deadlinePassed()) {
      this.cut(this.o.deadlineCut, 'write-deadline');
      return false;
    }
    const piece = data.subarray(head.offset, head.offset + size);
    head.offset += size;
    this.queuedBytes -= size;
    if (head.offset >= data.length) this.queue.shift();
    this.written += size;
    if (resetAt !== null && this.written >= resetAt) {
      // Reset only once the piece left the process, so the client gets exactly N bytes.
      if (!this.headOut) this.outHead();
      this.flushCork();
      this.stop();
      this.o.sink.write(piece, () => this.o.sink.cut('rst', 'reset'));
      return false;
    }
    const ok = this.out(piece);
    let gap = 0;
    if (bw !== null && bw > 0) gap += (size / bw) * 1000;
    if (k.sliceBytes !== null) gap += k.sliceDelayMs * this.o.scale();
    this.nextSendAt = now + gap;
    if (!ok) {
      this.waitForDrain();
      return false;
    }
    return true;
  }

  private stop(): void {
    this.done = true;
    for (const t of [this.timer, this.corkTimer]) if (t !== null) this.o.timers.clearTimeout(t);
    this.timer = this.corkTimer = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}
