import { OutlastError } from '../errors.js';
import { formatEventId, newEpoch, resumePoint } from '../store/ids.js';
import type {
  EventInput,
  JobRecord,
  ReadResult,
  Store,
  StoredEvent,
  StoreListener,
  StreamInfo,
  Unsubscribe,
} from '../store/types.js';

/** The part of a Durable Object's `state.storage` the store uses. */
export interface DurableStorage {
  get<T = unknown>(key: string): Promise<T | undefined>;
  get<T = unknown>(keys: string[]): Promise<Map<string, T>>;
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T = unknown>(options: { prefix: string }): Promise<Map<string, T>>;
}

/** Options of {@link createDurableStore}. */
export interface DurableStoreOptions {
  /** Events kept per stream; older ones are dropped (readers behind them get an `evicted` gap). @default 10_000 */
  maxEventsPerStream?: number;
  /** Clock, Unix ms. @default Date.now */
  now?: () => number;
}

interface Meta {
  epoch: string;
  /** Seq of the oldest retained event (lastSeq + 1 when none). */
  firstSeq: number;
  lastSeq: number;
  ended: boolean;
  bytes: number;
}

interface Stream {
  meta: Meta;
  events: StoredEvent[];
  listeners: Set<StoreListener>;
}

const encoder = new TextEncoder();
const sizeOf = (e: EventInput) => encoder.encode(e.event).length + encoder.encode(e.data).length;
const metaKey = (id: string) => `m/${id}`;
const eventKey = (id: string, seq: number) => `e/${id}/${String(seq).padStart(12, '0')}`;
const jobKey = (id: string) => `j/${id}`;

/**
 * A store in a Durable Object's storage: one object holds a stream (or a job's stream and
 * record), so every write is durable before it is delivered, and an object woken up again
 * (evicted, moved, restarted) reads the same log with the same ids. Loaded into memory on
 * first use; reads and subscriptions are served from there.
 */
export function createDurableStore(
  storage: DurableStorage,
  options: DurableStoreOptions = {},
): Store {
  const maxEvents = options.maxEventsPerStream ?? 10_000;
  const now = options.now ?? Date.now;
  const streams = new Map<string, Stream>();
  const loading = new Map<string, Promise<Stream | null>>();
  const cancelHandlers = new Set<(jobId: string, reason: string) => void>();

  async function load(id: string): Promise<Stream | null> {
    const cached = streams.get(id);
    if (cached !== undefined) return cached;
    let pending = loading.get(id);
    if (pending === undefined) {
      pending = (async () => {
        const meta = await storage.get<Meta>(metaKey(id));
        if (meta === undefined) return null;
        const stored = await storage.list<Omit<StoredEvent, 'id'>>({ prefix: `e/${id}/` });
        const events = [...stored.values()].map((e) => ({
          ...e,
          id: formatEventId(meta.epoch, e.seq),
        }));
        const stream = { meta, events, listeners: new Set<StoreListener>() };
        streams.set(id, stream);
        return stream;
      })();
      loading.set(id, pending);
      void pending.finally(() => loading.delete(id));
    }
    return pending;
  }

  async function ensure(id: string): Promise<Stream> {
    const existing = await load(id);
    if (existing !== null) return existing;
    const meta: Meta = { epoch: newEpoch(), firstSeq: 1, lastSeq: 0, ended: false, bytes: 0 };
    const stream = { meta, events: [], listeners: new Set<StoreListener>() };
    streams.set(id, stream);
    await storage.put({ [metaKey(id)]: meta });
    return stream;
  }

  function infoOf(stream: Stream): StreamInfo {
    const { meta, events } = stream;
    return {
      epoch: meta.epoch,
      firstId: events[0]?.id ?? null,
      lastId: meta.lastSeq > 0 ? formatEventId(meta.epoch, meta.lastSeq) : null,
      length: events.length,
      bytes: meta.bytes,
      ended: meta.ended,
    };
  }

  async function push(id: string, stream: Stream, input: EventInput): Promise<StoredEvent> {
    const { meta } = stream;
    const seq = meta.lastSeq + 1;
    const event: StoredEvent = {
      id: formatEventId(meta.epoch, seq),
      seq,
      time: now(),
      event: input.event,
      data: input.data,
    };
    meta.lastSeq = seq;
    meta.bytes += sizeOf(input);
    stream.events.push(event);
    const dropped: string[] = [];
    while (stream.events.length > maxEvents) {
      const old = stream.events.shift()!;
      meta.bytes -= sizeOf(old);
      dropped.push(eventKey(id, old.seq));
    }
    meta.firstSeq = stream.events[0]?.seq ?? seq + 1;
    // Durable before anyone sees it: a reader never holds an id the object could forget.
    await storage.put({
      [eventKey(id, seq)]: { seq, time: event.time, event: event.event, data: event.data },
      [metaKey(id)]: meta,
    });
    if (dropped.length > 0) await storage.delete(dropped);
    for (const listener of [...stream.listeners]) listener.event(event);
    return event;
  }

  return {
    async create(id) {
      return infoOf(await ensure(id));
    },

    async append(id, input) {
      const stream = await ensure(id);
      if (stream.meta.ended) {
        throw new OutlastError('stream-ended', `stream "${id}" has ended; nothing can be appended`);
      }
      return push(id, stream, input);
    },

    async end(id, finalEvent) {
      const stream = await ensure(id);
      if (stream.meta.ended) return null;
      const last = finalEvent === undefined ? null : await push(id, stream, finalEvent);
      stream.meta.ended = true;
      await storage.put({ [metaKey(id)]: stream.meta });
      for (const listener of [...stream.listeners]) listener.end();
      return last;
    },

    async read(id, afterId, limit = Number.POSITIVE_INFINITY): Promise<ReadResult | null> {
      const stream = await load(id);
      if (stream === null) return null;
      const { meta, events } = stream;
      const { from, gap } = resumePoint(afterId, { ...meta, firstId: events[0]?.id ?? null });
      const start = from - meta.firstSeq;
      const end = Math.min(events.length, start + Math.max(0, limit));
      return {
        events: events.slice(start, end),
        resume: afterId === null ? 'fresh' : gap === null ? 'recovered' : 'gap',
        gap,
        epoch: meta.epoch,
        ended: meta.ended,
        done: meta.ended && end >= events.length,
      };
    },

    async info(id) {
      const stream = await load(id);
      return stream === null ? null : infoOf(stream);
    },

    async subscribe(id, listener): Promise<Unsubscribe> {
      const stream = await load(id);
      if (stream === null) {
        throw new OutlastError('unknown-stream', `stream "${id}" does not exist`);
      }
      stream.listeners.add(listener);
      return () => {
        stream.listeners.delete(listener);
      };
    },

    // Count retention is applied on every append; this store has no age retention.
    async trim() {},

    async delete(id) {
      const stream = await load(id);
      if (stream === null) return;
      streams.delete(id);
      const keys = [...(await storage.list({ prefix: `e/${id}/` })).keys(), metaKey(id)];
      await storage.delete(keys);
      for (const listener of [...stream.listeners]) listener.lost();
    },

    async setJob(record, ttlMs) {
      await storage.put({
        [jobKey(record.id)]: { record, expiresAt: ttlMs === null ? null : now() + ttlMs },
      });
    },

    async getJob(id) {
      const entry = await storage.get<{ record: JobRecord; expiresAt: number | null }>(jobKey(id));
      if (entry === undefined) return null;
      if (entry.expiresAt !== null && entry.expiresAt <= now()) return null;
      return entry.record;
    },

    async requestCancel(jobId, reason) {
      const record = await this.getJob(jobId);
      if (record?.state !== 'running') return false;
      for (const handler of [...cancelHandlers]) handler(jobId, reason);
      return true;
    },

    onCancel(handler) {
      const entry = (jobId: string, reason: string) => handler(jobId, reason);
      cancelHandlers.add(entry);
      return () => {
        cancelHandlers.delete(entry);
      };
    },

    async createJob(record) {
      await ensure(record.id);
      await this.setJob(record, null);
    },

    async settleJob(record, ttlMs, finalEvent) {
      const stored = await this.getJob(record.id);
      if (stored === null) return null;
      if (stored.state !== 'running') return stored;
      await this.end(record.id, finalEvent);
      await this.setJob(record, ttlMs);
      return record;
    },

    abandonJob(jobId) {
      // One object runs the job: nobody else would mark it lost, so it does so itself.
      const error = {
        code: 'job-lost',
        message: `job ${jobId} was lost: its outcome could not be stored; start it again`,
      };
      void (async () => {
        const stored = await this.getJob(jobId);
        if (stored?.state !== 'running') return;
        await this.end(jobId, { event: 'outlast.error', data: JSON.stringify(error) });
        await this.setJob({ ...stored, state: 'lost', error, updatedAt: now() }, null);
      })().catch(() => {});
    },

    // Idempotency keys live in this object's storage: they hold for starts routed to it.
    async claimJobKey(key, jobId, ttlMs) {
      const held = await storage.get<{ jobId: string; expiresAt: number }>(`k/${key}`);
      if (held !== undefined && held.expiresAt > now()) return held.jobId;
      await storage.put({ [`k/${key}`]: { jobId, expiresAt: now() + ttlMs } });
      return null;
    },

    async refreshJobKey(key, jobId, ttlMs) {
      const held = await storage.get<{ jobId: string; expiresAt: number }>(`k/${key}`);
      if (held?.jobId !== jobId) return;
      if (ttlMs <= 0) await storage.delete([`k/${key}`]);
      else await storage.put({ [`k/${key}`]: { jobId, expiresAt: now() + ttlMs } });
    },

    onFenced() {
      // No leases: the object that runs a job keeps it.
      return () => {};
    },

    async close() {
      for (const stream of streams.values()) stream.listeners.clear();
      streams.clear();
    },
  };
}
