import { OutlastError } from '../errors.js';
import { unrefTimer } from '../unref.js';
import { formatEventId, newEpoch, resumePoint } from './ids.js';
import type {
  EventInput,
  JobRecord,
  ReadResult,
  Store,
  StoredEvent,
  StoreListener,
  StreamInfo,
  Unsubscribe,
} from './types.js';

/** Limits of the in-memory store. Every field is optional; see {@link memoryStoreDefaults}. */
export interface MemoryStoreOptions {
  /**
   * Events retained per stream; older ones are dropped on append (a reader behind them gets a
   * gap, reason `evicted`).
   * @default 1000
   */
  maxEventsPerStream?: number;
  /**
   * Bytes retained per stream (UTF-8 of type and data). The newest event is always kept.
   * @default 1_048_576 (1 MiB)
   */
  maxBytesPerStream?: number;
  /**
   * Events older than this are dropped (on sweeps, reads and appends). `null`: no age limit.
   * @default 3_600_000 (1 hour)
   */
  maxEventAgeMs?: number | null;
  /**
   * Streams held at once. Past it, the least recently active stream without subscribers is
   * evicted; when every stream has subscribers, creating one fails with `store-full`.
   * @default 10_000
   */
  maxStreams?: number;
  /**
   * Bytes held across all streams. Past it, least recently active streams without
   * subscribers are evicted.
   * @default 268_435_456 (256 MiB)
   */
  maxTotalBytes?: number;
  /**
   * A stream with no subscriber and no append for this long is evicted on the next sweep.
   * `null`: never.
   * @default 3_600_000 (1 hour)
   */
  idleStreamTtlMs?: number | null;
  /**
   * Job records held at once. Past it, the oldest records are dropped, settled ones first.
   * @default 10_000
   */
  maxJobRecords?: number;
  /**
   * How often expired events, idle streams and expired job records are swept. `null`: no
   * background sweep (expiry then only happens on access).
   * @default 30_000
   */
  sweepIntervalMs?: number | null;
  /** Clock, Unix ms. @default Date.now */
  now?: () => number;
}

/** Default limits of {@link createMemoryStore}. */
export const memoryStoreDefaults = {
  maxEventsPerStream: 1000,
  maxBytesPerStream: 1_048_576,
  maxEventAgeMs: 3_600_000,
  maxStreams: 10_000,
  maxTotalBytes: 268_435_456,
  idleStreamTtlMs: 3_600_000,
  maxJobRecords: 10_000,
  sweepIntervalMs: 30_000,
} as const;

interface StreamState {
  epoch: string;
  /** Retained events live in `events[head..]`: dropping the oldest is O(1). */
  events: StoredEvent[];
  head: number;
  bytes: number;
  lastSeq: number;
  ended: boolean;
  lastActive: number;
  listeners: Set<StoreListener>;
}

interface JobEntry {
  record: JobRecord;
  expiresAt: number | null;
}

/** The in-memory store, plus {@link MemoryStore.clear} (loses every stream, like a restart). */
export interface MemoryStore extends Store {
  /** Drops every stream and job record: what a restart of a store without persistence does. */
  clear(): void;
  /** Streams held now. */
  readonly size: number;
  /** What the store holds now (streams, job records, idempotency keys), for leak checks. */
  readonly counts: { streams: number; jobRecords: number; jobKeys: number };
}

const textEncoder = new TextEncoder();

function sizeOf(event: EventInput): number {
  // Exact for ASCII; `encodeInto` would cost a copy, and the bound only needs to be close.
  const length = event.data.length + event.event.length;
  return length < 1024 ? length * 2 : textEncoder.encode(event.data).length + event.event.length;
}

/**
 * The embedded default store: bounded per stream (count, bytes, age), in streams and in total
 * bytes, evicting idle streams. Lost on restart, which readers see as an epoch gap.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const o = { ...memoryStoreDefaults, ...options };
  const now = options.now ?? Date.now;
  const streams = new Map<string, StreamState>();
  const jobs = new Map<string, JobEntry>();
  const cancelHandlers = new Set<(jobId: string, reason: string) => void>();
  /** Idempotency keys: the job id each names, until when. */
  const jobKeys = new Map<string, { jobId: string; expiresAt: number }>();
  let totalBytes = 0;
  let closed = false;

  function touch(id: string, state: StreamState): void {
    // Map iteration order is insertion order: re-inserting keeps it least-recently-active first.
    state.lastActive = now();
    streams.delete(id);
    streams.set(id, state);
  }

  function drop(id: string, state: StreamState): void {
    streams.delete(id);
    totalBytes -= state.bytes;
    for (const listener of [...state.listeners]) listener.lost();
    state.listeners.clear();
  }

  function evictOne(except: string | null): boolean {
    for (const [id, state] of streams) {
      if (id !== except && state.listeners.size === 0) {
        drop(id, state);
        return true;
      }
    }
    return false;
  }

  function ensure(id: string): StreamState {
    const existing = streams.get(id);
    if (existing !== undefined) return existing;
    if (closed) throw new OutlastError('store-closed', 'the store was closed; create a new one');
    if (streams.size >= o.maxStreams && !evictOne(null)) {
      throw new OutlastError(
        'store-full',
        `the store holds ${streams.size} streams (maxStreams), all with readers; raise maxStreams or retry later`,
      );
    }
    const state: StreamState = {
      epoch: newEpoch(),
      events: [],
      head: 0,
      bytes: 0,
      lastSeq: 0,
      ended: false,
      lastActive: now(),
      listeners: new Set(),
    };
    streams.set(id, state);
    return state;
  }

  function dropOldest(state: StreamState): void {
    const event = state.events[state.head]!;
    state.events[state.head] = undefined as unknown as StoredEvent;
    state.head++;
    const size = sizeOf(event);
    state.bytes -= size;
    totalBytes -= size;
    if (state.head > 1024 && state.head * 2 > state.events.length) {
      state.events = state.events.slice(state.head);
      state.head = 0;
    }
  }

  function retained(state: StreamState): number {
    return state.events.length - state.head;
  }

  function trimAge(state: StreamState): void {
    if (o.maxEventAgeMs === null) return;
    const oldest = now() - o.maxEventAgeMs;
    while (retained(state) > 0 && state.events[state.head]!.time < oldest) dropOldest(state);
  }

  function push(id: string, state: StreamState, input: EventInput): StoredEvent {
    if (state.ended) {
      throw new OutlastError(
        'stream-ended',
        `stream "${id}" has ended; events cannot be appended after end()`,
      );
    }
    const seq = state.lastSeq + 1;
    const event: StoredEvent = {
      id: formatEventId(state.epoch, seq),
      seq,
      event: input.event,
      data: input.data,
      time: now(),
    };
    state.lastSeq = seq;
    state.events.push(event);
    const size = sizeOf(input);
    state.bytes += size;
    totalBytes += size;
    while (
      retained(state) > o.maxEventsPerStream ||
      (state.bytes > o.maxBytesPerStream && retained(state) > 1)
    ) {
      dropOldest(state);
    }
    trimAge(state);
    touch(id, state);
    while (totalBytes > o.maxTotalBytes && evictOne(id)) {}
    for (const listener of state.listeners) listener.event(event);
    return event;
  }

  function infoOf(state: StreamState): StreamInfo {
    return {
      epoch: state.epoch,
      firstId: retained(state) > 0 ? state.events[state.head]!.id : null,
      lastId: state.lastSeq > 0 ? formatEventId(state.epoch, state.lastSeq) : null,
      length: retained(state),
      bytes: state.bytes,
      ended: state.ended,
    };
  }

  function sweep(): void {
    const t = now();
    for (const [id, state] of streams) {
      trimAge(state);
      if (
        o.idleStreamTtlMs !== null &&
        state.listeners.size === 0 &&
        t - state.lastActive > o.idleStreamTtlMs
      ) {
        drop(id, state);
      }
    }
    for (const [id, entry] of jobs) {
      if (entry.expiresAt !== null && entry.expiresAt <= t) jobs.delete(id);
    }
    // Expired idempotency keys too: otherwise each stays until its bound pushes it out.
    for (const [key, held] of jobKeys) if (held.expiresAt <= t) jobKeys.delete(key);
  }

  /** A job record that has not expired, or `null` (an expired one is dropped). */
  function liveJob(jobId: string): JobRecord | null {
    const entry = jobs.get(jobId);
    if (entry === undefined) return null;
    if (entry.expiresAt !== null && entry.expiresAt <= now()) {
      jobs.delete(jobId);
      return null;
    }
    return entry.record;
  }

  function saveJob(record: JobRecord, ttlMs: number | null): void {
    jobs.delete(record.id);
    jobs.set(record.id, {
      record: { ...record },
      expiresAt: ttlMs === null ? null : now() + ttlMs,
    });
    while (jobs.size > o.maxJobRecords) {
      let victim: string | undefined;
      for (const [id, entry] of jobs) {
        if (entry.record.state !== 'running') {
          victim = id;
          break;
        }
      }
      jobs.delete(victim ?? jobs.keys().next().value!);
    }
  }

  function endStream(streamId: string, finalEvent?: EventInput): StoredEvent | null {
    const state = ensure(streamId);
    if (state.ended) return null;
    const last = finalEvent === undefined ? null : push(streamId, state, finalEvent);
    state.ended = true;
    touch(streamId, state);
    for (const listener of [...state.listeners]) listener.end();
    return last;
  }

  const timer =
    o.sweepIntervalMs === null ? undefined : unrefTimer(setInterval(sweep, o.sweepIntervalMs));

  return {
    get size() {
      return streams.size;
    },

    get counts() {
      return { streams: streams.size, jobRecords: jobs.size, jobKeys: jobKeys.size };
    },

    async create(streamId) {
      return infoOf(ensure(streamId));
    },

    async append(streamId, event) {
      return push(streamId, ensure(streamId), event);
    },

    async end(streamId, finalEvent) {
      return endStream(streamId, finalEvent);
    },

    async read(streamId, afterId, limit = Number.POSITIVE_INFINITY): Promise<ReadResult | null> {
      const state = streams.get(streamId);
      if (state === undefined) return null;
      trimAge(state);
      const count = retained(state);
      const firstSeq = count > 0 ? state.events[state.head]!.seq : state.lastSeq + 1;
      const firstId = count > 0 ? state.events[state.head]!.id : null;
      const { from, gap } = resumePoint(afterId, { ...state, firstSeq, firstId });
      const start = state.head + (from - firstSeq);
      const end = Math.min(state.events.length, start + Math.max(0, limit));
      const events = state.events.slice(start, end);
      const reachedEnd = end >= state.events.length;
      return {
        events,
        resume: afterId === null ? 'fresh' : gap === null ? 'recovered' : 'gap',
        gap,
        epoch: state.epoch,
        ended: state.ended,
        done: state.ended && reachedEnd,
      };
    },

    async info(streamId) {
      const state = streams.get(streamId);
      if (state === undefined) return null;
      trimAge(state);
      return infoOf(state);
    },

    async subscribe(streamId, listener): Promise<Unsubscribe> {
      const state = streams.get(streamId);
      if (state === undefined) {
        throw new OutlastError('unknown-stream', `stream "${streamId}" does not exist`);
      }
      state.listeners.add(listener);
      return () => {
        state.listeners.delete(listener);
        if (state.listeners.size === 0) state.lastActive = now();
      };
    },

    async trim(streamId) {
      const state = streams.get(streamId);
      if (state !== undefined) trimAge(state);
    },

    async delete(streamId) {
      const state = streams.get(streamId);
      if (state !== undefined) drop(streamId, state);
    },

    async setJob(record, ttlMs) {
      saveJob(record, ttlMs);
    },

    async createJob(record) {
      ensure(record.id);
      saveJob(record, null);
    },

    async settleJob(record, ttlMs, finalEvent) {
      const stored = liveJob(record.id);
      if (stored === null) return null;
      if (stored.state !== 'running') return { ...stored };
      // The stream first: when it throws (ended elsewhere), the record still says running.
      endStream(record.id, finalEvent);
      saveJob(record, ttlMs);
      return { ...record };
    },

    abandonJob(jobId) {
      const stored = liveJob(jobId);
      if (stored === null || stored.state !== 'running') return;
      const error = {
        code: 'job-lost',
        message: `job ${jobId} was lost: its outcome could not be stored; start it again`,
      };
      try {
        endStream(jobId, { event: 'outlast.error', data: JSON.stringify(error) });
      } catch {
        // The stream is gone (evicted): the record alone tells.
      }
      saveJob({ ...stored, state: 'lost', error, updatedAt: now() }, null);
    },

    async claimJobKey(key, jobId, ttlMs) {
      const held = jobKeys.get(key);
      if (held !== undefined && held.expiresAt > now()) return held.jobId;
      jobKeys.delete(key);
      jobKeys.set(key, { jobId, expiresAt: now() + ttlMs });
      // Bounded like the records they name: the oldest claims go first.
      while (jobKeys.size > o.maxJobRecords) jobKeys.delete(jobKeys.keys().next().value!);
      return null;
    },

    async refreshJobKey(key, jobId, ttlMs) {
      if (jobKeys.get(key)?.jobId !== jobId) return;
      if (ttlMs <= 0) jobKeys.delete(key);
      else jobKeys.set(key, { jobId, expiresAt: now() + ttlMs });
    },

    onFenced() {
      // One process, no leases: a job here is never taken from its runner.
      return () => {};
    },

    async getJob(jobId) {
      const record = liveJob(jobId);
      return record === null ? null : { ...record };
    },

    async requestCancel(jobId, reason) {
      if (liveJob(jobId)?.state !== 'running') return false;
      for (const handler of [...cancelHandlers]) {
        try {
          handler(jobId, reason);
        } catch {
          // A handler must not throw; one that does must not keep the others from the request.
        }
      }
      return true;
    },

    onCancel(handler) {
      // A wrapper per registration: registering one function twice gives two calls, as it
      // does on the Redis store, and each Unsubscribe removes its own.
      const entry = (jobId: string, reason: string) => handler(jobId, reason);
      cancelHandlers.add(entry);
      return () => {
        cancelHandlers.delete(entry);
      };
    },

    clear() {
      for (const [id, state] of [...streams]) drop(id, state);
      jobs.clear();
      jobKeys.clear();
      totalBytes = 0;
    },

    async close() {
      closed = true;
      cancelHandlers.clear();
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
