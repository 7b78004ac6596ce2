import { OutlastError } from '../../errors.js';
import type { StoredEvent, StoreListener, Unsubscribe } from '../types.js';
import { type RedisConnection, withTimeout } from './connection.js';
import { type Notice, parseNotice } from './notice.js';

/*
 * Live fan-out across instances: ONE subscriber connection per process, Pub/Sub on one channel
 * per stream that has readers here, and the Redis Stream as the source of truth for repair.
 *
 * Why Pub/Sub plus repair, not one blocking XREAD loop over every subscribed stream key:
 * - XREAD BLOCK takes every key on every call, so each round costs O(streams read here), and
 *   adding or dropping a stream means interrupting the blocked call (CLIENT UNBLOCK from a
 *   third connection) and re-sending the whole key list. SUBSCRIBE/UNSUBSCRIBE of one channel
 *   is O(1) on a connection that is never blocked.
 * - Redis routes a PUBLISH only to the instances subscribed to that channel; the message
 *   carries the whole event, so a live delivery costs no read at all.
 * - Pub/Sub is at-most-once (a reconnect or a slow-subscriber disconnect drops messages), so
 *   every delivery is checked against the seq: an event must be exactly `lastSeq + 1`. Any
 *   hole, a reconnect, or a reader that needs more than was delivered triggers a repair: an
 *   XRANGE after `lastSeq` on the command connection. History trimmed before the repair got
 *   there, a changed epoch or a deleted stream end the subscription with `lost()`: a reader
 *   is told, never silently skipped.
 */

/** What a feed needs from the store. */
export interface FeedReader {
  /**
   * Events after `seq` of `epoch`, with the stream's facts; `null` for an unknown stream.
   * `gap` is true when the events right after `seq` are gone (another epoch, trimmed).
   */
  readAfter(
    streamId: string,
    epoch: string,
    seq: number,
    limit: number,
  ): Promise<{
    epoch: string;
    /** First seq of the current epoch. */
    start: number;
    gap: boolean;
    events: StoredEvent[];
    lastSeq: number;
    ended: boolean;
  } | null>;
  /** The stream's epoch, last seq and ended flag, or `null` when unknown. */
  probe(streamId: string): Promise<{ epoch: string; lastSeq: number; ended: boolean } | null>;
}

/** Notifications buffered while a feed waits for its first probe; past it, repair instead. */
const MAX_EARLY = 1000;

/** One stream's live delivery in this process, shared by all its local readers. */
class Feed {
  readonly listeners = new Set<StoreListener>();
  epoch = '';
  /** Every event up to this seq has been handed to the listeners. */
  lastSeq = 0;
  /** The stream ends after this seq (once known). */
  endSeq: number | null = null;
  endDelivered = false;
  dead = false;
  idleSince = 0;
  /** Resolves once subscribed and probed; rejects `unknown-stream`. */
  ready: Promise<void> | null = null;
  /** Notifications that came before the probe answered. */
  early: Notice[] | null = [];
  earlyOverflow = false;
  private repairing: Promise<void> | null = null;
  private repairAgain = false;
  readonly onMessage = (message: Buffer) => {
    const notice = parseNotice(message);
    if (notice === null) return;
    if (this.early !== null) {
      if (this.early.length < MAX_EARLY) this.early.push(notice);
      else this.earlyOverflow = true;
      return;
    }
    this.notice(notice);
  };

  constructor(
    readonly streamId: string,
    readonly channel: string,
    private readonly fanout: Fanout,
  ) {}

  /** Applies a notification (Pub/Sub, or the answer of our own write). */
  notice(notice: Notice): void {
    if (this.dead) return;
    if (notice.kind === 'deleted') {
      this.lose();
      return;
    }
    // Another epoch: after a Redis restart new events start one (the re-read learns it and
    // goes on from the kept history), or the stream was recreated (the re-read loses it).
    if (notice.epoch !== this.epoch) {
      this.repair();
      return;
    }
    if (notice.kind === 'event') this.offer(notice.event);
    else this.offerEnd(notice.lastSeq);
  }

  /** Delivers `event` if it is the next one; otherwise asks for a repair. */
  offer(event: StoredEvent): void {
    if (this.dead || event.seq <= this.lastSeq) return;
    if (event.seq !== this.lastSeq + 1) {
      this.repair();
      return;
    }
    this.lastSeq = event.seq;
    // The position is `epoch:lastSeq`, the last delivered id (epochs change after restarts).
    this.epoch = event.id.slice(0, event.id.lastIndexOf(':'));
    for (const listener of this.listeners) listener.event(event);
    this.maybeEnd();
  }

  offerEnd(lastSeq: number): void {
    if (this.dead) return;
    this.endSeq = lastSeq;
    if (this.lastSeq >= lastSeq) this.maybeEnd();
    else this.repair();
  }

  /** Resolves once every event up to `seq` has been delivered (or the feed is gone). */
  async catchUp(seq: number): Promise<void> {
    while (!this.dead && this.lastSeq < seq) {
      const before = this.lastSeq;
      this.repair();
      const running = this.repairing;
      if (running === null) return;
      await running;
      // Redis away, or nothing more to read: the caller does not wait for ever.
      if (this.repairFailed || this.lastSeq === before) return;
    }
  }

  private repairFailed = false;

  /** Starts a repair, or asks the running one to go round again. */
  repair(): void {
    if (this.dead) return;
    if (this.repairing !== null) {
      this.repairAgain = true;
      return;
    }
    this.repairFailed = false;
    this.repairing = this.runRepair().finally(() => {
      this.repairing = null;
    });
  }

  private async runRepair(): Promise<void> {
    const { reader, batch } = this.fanout;
    do {
      this.repairAgain = false;
      let result: Awaited<ReturnType<FeedReader['readAfter']>>;
      try {
        result = await reader.readAfter(this.streamId, this.epoch, this.lastSeq, batch);
      } catch (error) {
        // Redis is away (or the command connection is not back yet while the subscriber
        // is): try again later; reconnects also repair every feed.
        this.repairFailed = true;
        this.fanout.onError(error);
        setTimeout(() => this.repair(), this.fanout.retryMs).unref();
        return;
      }
      if (this.dead) return;
      if (result === null || result.gap) {
        this.lose();
        return;
      }
      for (const event of result.events) this.offer(event);
      // Every event of earlier epochs delivered: the position is the current epoch's.
      if (this.lastSeq >= result.start - 1) this.epoch = result.epoch;
      if (result.ended) this.endSeq = result.lastSeq;
      if (result.events.length >= batch) this.repairAgain = true;
      this.maybeEnd();
    } while (this.repairAgain && !this.dead);
  }

  private maybeEnd(): void {
    if (this.endSeq === null || this.endDelivered || this.lastSeq < this.endSeq) return;
    this.endDelivered = true;
    for (const listener of [...this.listeners]) listener.end();
  }

  /** History is gone (deleted, flushed, trimmed past us, new epoch): tell every reader. */
  lose(): void {
    if (this.dead) return;
    this.dead = true;
    const listeners = [...this.listeners];
    this.listeners.clear();
    this.fanout.drop(this);
    for (const listener of listeners) listener.lost();
  }
}

/** Options of {@link Fanout}. */
export interface FanoutOptions {
  subscriber: RedisConnection;
  reader: FeedReader;
  channel: (streamId: string) => string;
  batch: number;
  /** Longest wait for SUBSCRIBE, ms. */
  timeout: number;
  /** Pause before a failed repair is tried again, ms. */
  retryMs: number;
  lingerMs: number;
  /** Idle feeds kept lingering at most; past it they unsubscribe at once. */
  maxLingering: number;
  onError: (error: unknown) => void;
}

/** Every live subscription of one process, on one subscriber connection. */
export class Fanout {
  readonly reader: FeedReader;
  readonly batch: number;
  readonly retryMs: number;
  readonly onError: (error: unknown) => void;
  private readonly feeds = new Map<string, Feed>();
  private readonly timer: NodeJS.Timeout | undefined;
  private lingering = 0;

  constructor(private readonly o: FanoutOptions) {
    this.reader = o.reader;
    this.batch = o.batch;
    this.retryMs = o.retryMs;
    this.onError = o.onError;
    if (o.lingerMs > 0) {
      this.timer = setInterval(() => this.sweep(), Math.max(100, o.lingerMs / 2)).unref();
    }
    // node-redis resubscribes every channel before it reports `ready` again; anything
    // published meanwhile was dropped, so every feed re-reads from its last seq.
    o.subscriber.on('ready', () => this.repairAll());
  }

  /** Has every feed re-read from its last seq (after a reconnect). */
  repairAll(): void {
    for (const feed of this.feeds.values()) if (feed.early === null) feed.repair();
  }

  /** The feed of a stream with readers here, if any. */
  get(streamId: string): Feed | undefined {
    const feed = this.feeds.get(streamId);
    return feed === undefined || feed.early !== null ? undefined : feed;
  }

  /** Streams with a live feed here (for TTL refresh). */
  streamIds(): string[] {
    return [...this.feeds.keys()];
  }

  /** Adds a listener; see `Store.subscribe`. */
  async subscribe(streamId: string, listener: StoreListener): Promise<Unsubscribe> {
    let feed = this.feeds.get(streamId);
    if (feed === undefined) {
      feed = new Feed(streamId, this.o.channel(streamId), this);
      this.feeds.set(streamId, feed);
      feed.ready = this.open(feed);
    }
    await feed.ready;
    // Lost between its probe and now (history gone): a new subscription starts a new feed.
    if (feed.dead) return this.subscribe(streamId, listener);
    if (feed.listeners.size === 0 && feed.idleSince !== 0) {
      this.lingering--;
      feed.idleSince = 0;
    }
    feed.listeners.add(listener);
    const subscribed = feed;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (!subscribed.listeners.delete(listener) || subscribed.listeners.size > 0) return;
      if (subscribed.dead) return;
      if (this.o.lingerMs === 0 || this.lingering >= this.o.maxLingering) this.close(subscribed);
      else {
        subscribed.idleSince = Date.now();
        this.lingering++;
      }
    };
  }

  private async open(feed: Feed): Promise<void> {
    try {
      await withTimeout(
        this.o.subscriber.subscribe(feed.channel, feed.onMessage, true),
        this.o.timeout,
        'SUBSCRIBE',
      );
      const facts = await this.reader.probe(feed.streamId);
      if (facts === null) {
        throw new OutlastError('unknown-stream', `stream "${feed.streamId}" does not exist`);
      }
      feed.epoch = facts.epoch;
      feed.lastSeq = facts.lastSeq;
      if (facts.ended) {
        feed.endSeq = facts.lastSeq;
        feed.endDelivered = true;
      }
    } catch (error) {
      feed.dead = true;
      this.drop(feed);
      throw error;
    }
    const early = feed.early ?? [];
    feed.early = null;
    for (const notice of early) feed.notice(notice);
    if (feed.earlyOverflow) feed.repair();
  }

  /** Forgets a feed and unsubscribes its channel. */
  drop(feed: Feed): void {
    if (this.feeds.get(feed.streamId) === feed) this.feeds.delete(feed.streamId);
    if (feed.idleSince !== 0 && feed.listeners.size === 0) this.lingering--;
    feed.idleSince = 0;
    this.o.subscriber.unsubscribe(feed.channel, feed.onMessage, true).catch(() => {
      // Disconnected: the channel is gone with the connection, and node-redis no longer
      // resubscribes it since the listener is removed.
    });
  }

  private close(feed: Feed): void {
    feed.dead = true;
    this.drop(feed);
  }

  private sweep(): void {
    const before = Date.now() - this.o.lingerMs;
    for (const feed of [...this.feeds.values()]) {
      if (feed.listeners.size === 0 && feed.idleSince !== 0 && feed.idleSince <= before) {
        this.close(feed);
      }
    }
  }

  /** Tells every local reader that history is gone (the store was cleared). */
  loseAll(): void {
    for (const feed of [...this.feeds.values()]) if (feed.early === null) feed.lose();
  }

  /** Stops the linger sweep. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const feed of [...this.feeds.values()]) this.close(feed);
  }
}

export type { Feed };
