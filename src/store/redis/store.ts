import { OutlastError } from '../../errors.js';
import { formatEventId, newEpoch } from '../ids.js';
import type { EventInput, ReadResult, Store, StoredEvent } from '../types.js';
import {
  call,
  openClusterConnection,
  openConnection,
  type RedisConnection,
  redactUrl,
  Script,
  storeError,
  withTimeout,
} from './connection.js';
import { Fanout } from './fanout.js';
import { createJobRecords } from './jobs.js';
import { keyspace } from './keys.js';
import * as lua from './lua.js';
import { type RedisStoreOptions, resolveRedisStoreOptions } from './options.js';
import {
  eventsOf,
  gapReason,
  type InfoReply,
  infoOf,
  parseEpochs,
  type ReadReply,
  readPosition,
  readResultOf,
} from './replies.js';

/** The Redis store, plus what tests and tools need. */
export interface RedisStore extends Store {
  /** Names this process in job records (`owner`). */
  readonly instanceId: string;
  /**
   * Deletes every key under this store's prefix (streams, jobs, leases): what a flushed Redis
   * does. Local readers get `lost()`. For tests and tools: it uses `KEYS`, which blocks Redis.
   */
  clear(): Promise<void>;
}

const SCRIPTS = {
  write: new Script(lua.WRITE),
  read: new Script(lua.READ),
  delete: new Script(lua.DELETE),
  touch: new Script(lua.TOUCH),
  setJob: new Script(lua.SET_JOB),
  createJob: new Script(lua.CREATE_JOB),
  settleJob: new Script(lua.SETTLE_JOB),
  renewJob: new Script(lua.RENEW_JOB),
  claimKey: new Script(lua.CLAIM_KEY),
  refreshKey: new Script(lua.REFRESH_KEY),
  renew: new Script(lua.RENEW),
  expired: new Script(lua.EXPIRED),
  markLost: new Script(lua.MARK_LOST),
  cancel: new Script(lua.CANCEL),
};

/** Loads every script, so EVALSHA finds them (at start, and after Redis restarted empty). */
function loadScripts(client: RedisConnection, timeout: number): Promise<unknown> {
  // allSettled, not all: the first refusal (a full command queue) must not return while the
  // other loads still fill the queue. EVALSHA falls back to EVAL on NOSCRIPT anyway.
  return Promise.allSettled(
    Object.values(SCRIPTS).map((s) => call(client, ['SCRIPT', 'LOAD', s.source], timeout)),
  );
}

/**
 * A store on Redis Streams, shared by every instance that uses the same Redis and prefix: any
 * instance serves any stream, and a reader that reconnects to another instance resumes there.
 * Connects (two connections: commands, and one shared subscriber, which also carries the
 * cancel requests of every job) before resolving; rejects with `store-unavailable` when Redis
 * cannot be reached. See docs/redis.md.
 */
export async function createRedisStore(options: RedisStoreOptions = {}): Promise<RedisStore> {
  const o = resolveRedisStoreOptions(options);
  const keys = keyspace(o.keyPrefix);
  const connect = (role: string) => {
    const how = {
      url: o.url,
      connectTimeoutMs: o.connectTimeoutMs,
      reconnectMaxDelayMs: o.reconnectMaxDelayMs,
      maxPendingCommands: o.maxPendingCommands,
      name: `outlast-${role}-${o.instanceId}`.replace(/[^\w.-]/g, '_'),
    };
    return o.clusterUrls === null || o.clusterUrls.length === 0
      ? openConnection(how)
      : openClusterConnection({ ...how, rootUrls: o.clusterUrls });
  };
  const client: RedisConnection = await connect('cmd');
  let subscriber: RedisConnection;
  try {
    subscriber = await connect('sub');
  } catch (error) {
    client.destroy();
    throw error;
  }
  const timeout = o.commandTimeoutMs;
  // Cancel requests of every job arrive on one channel of the shared subscriber, subscribed
  // once here (node-redis subscribes it again after a reconnect); see Store.requestCancel.
  const cancelHandlers = new Set<(jobId: string, reason: string) => void>();
  const fencedHandlers = new Set<(jobId: string) => void>();
  const deliverCancel = (jobId: string, reason: string) => {
    for (const handler of [...cancelHandlers]) {
      try {
        handler(jobId, reason);
      } catch {
        // A handler must not throw; one that does must not keep the others from the request.
      }
    }
  };
  const onCancelMessage = (message: Buffer) => {
    let request: { jobId?: unknown; reason?: unknown };
    try {
      request = JSON.parse(message.toString('utf8')) as typeof request;
    } catch {
      return; // not ours
    }
    if (typeof request?.jobId !== 'string') return;
    const reason = typeof request.reason === 'string' ? request.reason : 'cancelled by request';
    deliverCancel(request.jobId, reason);
  };
  try {
    await withTimeout(
      subscriber.subscribe(keys.cancel, onCancelMessage, true),
      timeout,
      'SUBSCRIBE',
    );
  } catch (error) {
    client.destroy();
    subscriber.destroy();
    throw storeError('subscribe to the cancel channel', error);
  }
  const ttl = o.streamTtlMs ?? 0;
  const checkRestart = o.trustRestartedData ? '0' : '1';
  let closed = false;

  // One report per outage, from the command connection (the subscriber follows it).
  let down = false;
  client.on('error', (error) => {
    if (down || closed) return;
    down = true;
    o.onConnectionChange?.(storeError(`reach ${redactUrl(o.url)}`, error));
  });
  await loadScripts(client, timeout);

  async function run<T>(what: string, script: Script, k: string[], args: string[]): Promise<T> {
    if (closed) throw new OutlastError('store-closed', 'the store was closed; create a new one');
    try {
      return await script.run<T>(client, k, args, timeout);
    } catch (error) {
      throw storeError(what, error);
    }
  }

  const cutoff = () => (o.maxEventAgeMs === null ? '-1' : String(o.now() - o.maxEventAgeMs));

  function writeArgs(streamId: string, mode: string, input?: EventInput, time = o.now()): string[] {
    return [
      mode,
      input?.event ?? '',
      input?.data ?? '',
      String(time),
      String(o.maxEventsPerStream),
      String(o.maxBytesPerStream),
      cutoff(),
      String(ttl),
      newEpoch(),
      keys.stream(streamId).channel,
      checkRestart,
    ];
  }

  async function write(streamId: string, mode: 'a' | 'f' | 'n', input?: EventInput) {
    const k = keys.stream(streamId);
    const time = o.now();
    const args = writeArgs(streamId, mode, input, time);
    const [status, epoch, seq, lastSeq] = await run<[string, string, number, number]>(
      mode === 'a' ? 'append an event' : 'end a stream',
      SCRIPTS.write,
      [k.meta, k.events],
      args,
    );
    if (status === 'ended') {
      throw new OutlastError(
        'stream-ended',
        `stream "${streamId}" has ended; events cannot be appended after end()`,
      );
    }
    if (status === 'already') return null;
    const event: StoredEvent | null =
      input === undefined || seq === 0
        ? null
        : { id: formatEventId(epoch, seq), seq, event: input.event, data: input.data, time };
    // Local readers get the event before the call resolves, as the contract asks; the same
    // event coming back over Pub/Sub is then a duplicate by seq and is dropped.
    const feed = fanout.get(streamId);
    if (feed !== undefined) {
      // Another epoch: a new one after a Redis restart (the feed re-reads to learn it), or
      // a recreated stream (the re-read finds the feed's position gone and loses it).
      if (feed.epoch !== epoch) feed.repair();
      else {
        if (event !== null) feed.offer(event);
        if (mode !== 'a') feed.offerEnd(lastSeq);
      }
      await feed.catchUp(lastSeq);
    }
    return event;
  }

  async function readRaw(
    streamId: string,
    afterEpoch: string,
    afterSeq: string,
    limit: number,
  ): Promise<ReadReply | null> {
    const k = keys.stream(streamId);
    return run<ReadReply | null>(
      'read a stream',
      SCRIPTS.read,
      [k.meta, k.events],
      [
        cutoff(),
        afterEpoch,
        afterSeq,
        String(Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : -1),
        newEpoch(),
        checkRestart,
      ],
    );
  }

  const fanout = new Fanout({
    subscriber,
    channel: (streamId) => keys.stream(streamId).channel,
    batch: o.repairBatch,
    timeout: o.commandTimeoutMs,
    retryMs: Math.min(1000, o.reconnectMaxDelayMs),
    lingerMs: o.subscriberLingerMs,
    maxLingering: o.maxIdleSubscriptions,
    onError: () => {
      // A failed repair is retried when the subscriber reconnects; outages are reported once
      // through onConnectionChange.
    },
    reader: {
      async readAfter(streamId, epoch, seq, limit) {
        const reply = await readRaw(streamId, epoch, String(seq), limit);
        if (reply === null) return null;
        const [raw, lastSeq, ended, , firstSeq, length] = reply;
        const first = length > 0 ? firstSeq : lastSeq + 1;
        const epochs = parseEpochs(raw);
        return {
          epoch: epochs.current,
          start: epochs.start,
          gap: gapReason(epochs, { epoch, seq }, lastSeq, first) !== null,
          events: eventsOf(reply, epochs),
          lastSeq,
          ended: ended === 1,
        };
      },
      async probe(streamId) {
        const reply = await readRaw(streamId, '', '', 0);
        if (reply === null) return null;
        return { epoch: parseEpochs(reply[0]).current, lastSeq: reply[1], ended: reply[2] === 1 };
      },
    },
  });

  // Registered once `fanout` exists: a reconnect during start must not reach it before.
  client.on('ready', () => {
    void loadScripts(client, timeout);
    fanout.repairAll();
    if (!down) return;
    down = false;
    o.onConnectionChange?.(null);
  });

  const jobs = createJobRecords({
    client,
    keys,
    timeout,
    instanceId: o.instanceId,
    jobLeaseMs: o.jobLeaseMs,
    lostJobTtlMs: o.lostJobTtlMs,
    now: o.now,
    scripts: SCRIPTS,
    run,
    writeArgs: (streamId, mode, final) => writeArgs(streamId, mode, final),
    fenced: (jobId) => {
      for (const handler of [...fencedHandlers]) {
        try {
          handler(jobId);
        } catch {
          // As for cancel handlers.
        }
      }
    },
    cancel: deliverCancel,
  });

  const refresher =
    o.refreshIntervalMs === null || o.streamTtlMs === null
      ? undefined
      : setInterval(() => {
          for (const streamId of fanout.streamIds()) {
            const k = keys.stream(streamId);
            run('refresh a TTL', SCRIPTS.touch, [k.meta, k.events], [String(ttl)]).catch(() => {});
          }
        }, o.refreshIntervalMs).unref();

  const store: RedisStore = {
    instanceId: o.instanceId,

    async create(streamId) {
      const k = keys.stream(streamId);
      const args = writeArgs(streamId, 'c');
      return infoOf(
        await run<InfoReply>('create a stream', SCRIPTS.write, [k.meta, k.events], args),
      );
    },

    async append(streamId, event) {
      return (await write(streamId, 'a', event))!;
    },

    end: (streamId, finalEvent) =>
      write(streamId, finalEvent === undefined ? 'n' : 'f', finalEvent),

    async read(streamId, afterId, limit = Number.POSITIVE_INFINITY): Promise<ReadResult | null> {
      const position = readPosition(afterId);
      const reply = await readRaw(streamId, position.epoch, position.seq, limit);
      if (reply === null) return null;
      const { lastSeq, ...result } = readResultOf(reply, afterId, position.parsed);
      // Readers here must have every event this read returns before it resolves, so a reader
      // that subscribed, then read, never gets one of these events again afterwards.
      const feed = fanout.get(streamId);
      if (feed !== undefined) {
        if (feed.epoch !== result.epoch) {
          feed.repair();
          await feed.catchUp(lastSeq);
        } else if (feed.lastSeq < lastSeq) {
          for (const event of result.events) feed.offer(event);
          if (result.ended) feed.offerEnd(lastSeq);
          await feed.catchUp(lastSeq);
        }
      }
      return result;
    },

    async info(streamId) {
      const reply = await readRaw(streamId, '', '', 0);
      return reply === null ? null : infoOf(reply);
    },

    subscribe: (streamId, listener) => {
      if (closed) {
        return Promise.reject(
          new OutlastError('store-closed', 'the store was closed; create a new one'),
        );
      }
      return fanout.subscribe(streamId, listener).catch((error: unknown) => {
        throw storeError('subscribe to a stream', error);
      });
    },

    async trim(streamId) {
      if (o.maxEventAgeMs !== null) await readRaw(streamId, '', '', 0);
    },

    async delete(streamId) {
      const k = keys.stream(streamId);
      await run('delete a stream', SCRIPTS.delete, [k.meta, k.events], [k.channel]);
      fanout.get(streamId)?.lose();
    },

    setJob: (record, ttlMs) => jobs.setJob(record, ttlMs),
    createJob: (record) => jobs.createJob(record),
    settleJob: (record, ttlMs, final) => jobs.settleJob(record, ttlMs, final),
    abandonJob: (jobId) => jobs.abandonJob(jobId),
    claimJobKey: (key, jobId, ttlMs) => jobs.claimJobKey(key, jobId, ttlMs),
    refreshJobKey: (key, jobId, ttlMs) => jobs.refreshJobKey(key, jobId, ttlMs),

    onFenced(handler) {
      if (closed) return () => {};
      const entry = (jobId: string) => handler(jobId);
      fencedHandlers.add(entry);
      return () => {
        fencedHandlers.delete(entry);
      };
    },

    async getJob(jobId) {
      if (closed) throw new OutlastError('store-closed', 'the store was closed; create a new one');
      return jobs.getJob(jobId);
    },

    async requestCancel(jobId, reason) {
      const published = await run<number>(
        'request a cancel',
        SCRIPTS.cancel,
        [keys.job(jobId)],
        [keys.cancel, JSON.stringify({ jobId, reason }), reason],
      );
      return published === 1;
    },

    onCancel(handler) {
      if (closed) return () => {};
      // A wrapper per registration, so each Unsubscribe removes its own.
      const entry = (jobId: string, reason: string) => handler(jobId, reason);
      cancelHandlers.add(entry);
      return () => {
        cancelHandlers.delete(entry);
      };
    },

    async clear() {
      fanout.loseAll();
      // EVAL, not EVALSHA: a NOSCRIPT retry would let a command sent after clear() overtake it.
      try {
        await call(client, ['EVAL', lua.CLEAR, '0', keys.pattern], timeout);
      } catch (error) {
        throw storeError('clear the store', error);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      jobs.stop();
      fanout.stop();
      cancelHandlers.clear();
      fencedHandlers.clear();
      if (refresher !== undefined) clearInterval(refresher);
      client.destroy();
      subscriber.destroy();
    },
  };
  return store;
}
