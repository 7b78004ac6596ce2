import { hostname } from 'node:os';
import { OutlastError } from '../../errors.js';
import { newEpoch } from '../ids.js';

/** Options of {@link createRedisStore}. Every field is optional; see {@link redisStoreDefaults}. */
export interface RedisStoreOptions {
  /**
   * Where Redis listens (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS).
   * @default process.env.REDIS_URL, else 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * Connect to a Redis Cluster (ElastiCache/MemoryDB in cluster mode, Valkey cluster) through
   * these nodes (`redis://host:port`; the others are discovered) instead of `url`. Every
   * script's keys share one hash slot, so the store works the same on a cluster. `null`: one
   * node at `url`.
   * @default null
   */
  clusterUrls?: string[] | null;
  /**
   * Prefix of every key and channel this store uses, so several applications (or tests) can
   * share one Redis. Instances that must see the same streams use the same prefix.
   * @default 'outlast:'
   */
  keyPrefix?: string;
  /**
   * Events retained per stream; older ones are trimmed on append (a reader behind them gets a
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
   * Events older than this are trimmed (on append, read and `trim`). `null`: no age limit.
   * @default 3_600_000 (1 hour)
   */
  maxEventAgeMs?: number | null;
  /**
   * A stream's keys expire this long after its last append (Redis key TTL), unless some
   * instance has a reader on it (readers refresh the TTL every `refreshIntervalMs`).
   * `null`: streams never expire (then bound Redis with `maxmemory`).
   * @default 3_600_000 (1 hour)
   */
  streamTtlMs?: number | null;
  /**
   * How often the TTLs of streams with readers in this process are refreshed. `null`: never.
   * @default 30_000
   */
  refreshIntervalMs?: number | null;
  /**
   * A command that gets no answer within this time rejects with `store-unavailable`.
   * @default 5_000
   */
  commandTimeoutMs?: number;
  /**
   * Connecting (at start and on every reconnect) gives up after this time.
   * @default 5_000
   */
  connectTimeoutMs?: number;
  /**
   * Longest pause between reconnection attempts after Redis went away (attempts back off
   * from 50 ms up to this).
   * @default 2_000
   */
  reconnectMaxDelayMs?: number;
  /**
   * Commands waiting for an answer on the command connection. Past it, calls reject with
   * `store-unavailable` instead of growing memory while Redis is slow.
   * @default 10_000
   */
  maxPendingCommands?: number;
  /**
   * Events fetched per round when a live subscription catches up from the stream (after a
   * reconnect or a missed notification).
   * @default 500
   */
  repairBatch?: number;
  /**
   * After the last local reader of a stream leaves, its channel stays subscribed this long, so
   * a long-poll client coming back does not pay a SUBSCRIBE round trip. `0`: unsubscribe at once.
   * @default 5_000
   */
  subscriberLingerMs?: number;
  /**
   * Streams kept subscribed without a local reader (lingering, see `subscriberLingerMs`).
   * Past it, a stream whose last reader leaves is unsubscribed at once.
   * @default 10_000
   */
  maxIdleSubscriptions?: number;
  /**
   * Name of this process in job records (`owner`); unique per instance.
   * @default '{hostname}-{pid}-{random}'
   */
  instanceId?: string;
  /**
   * A running job's lease: its owner renews it every third of this; when the owner stops
   * (crash, kill, partition) for longer, any instance marks the job `lost` and ends its stream
   * with `outlast.error` code `job-lost`.
   * @default 15_000
   */
  jobLeaseMs?: number;
  /**
   * How long the record of a job marked `lost` stays fetchable.
   * @default 3_600_000 (1 hour, the server's default `resultTtlMs`)
   */
  lostJobTtlMs?: number;
  /**
   * Whether Redis keeps every acknowledged write across a restart (AOF with
   * `appendfsync always`). When `false`, a restart may have rolled back the latest writes, so
   * the first use of each stream after a Redis restart starts a new epoch for the events
   * appended from then on: the events Redis kept keep their ids (readers resume with nothing
   * lost or repeated), a reader at an id the restart rolled back gets an `epoch` gap, and no
   * id ever names two events. When `true`, no new epoch is started.
   * @default false
   */
  trustRestartedData?: boolean;
  /** Clock for event times, age retention and job-record TTLs, Unix ms. @default Date.now */
  now?: () => number;
  /**
   * Told when the connection to Redis is lost and when it is back (as `OutlastError`
   * `store-unavailable`, then `null`). `null`: silent.
   * @default logs both with console.warn
   */
  onConnectionChange?: ((error: Error | null) => void) | null;
}

/** Default options of {@link createRedisStore}. */
export const redisStoreDefaults = {
  url: 'redis://127.0.0.1:6379',
  clusterUrls: null as string[] | null,
  keyPrefix: 'outlast:',
  maxEventsPerStream: 1000,
  maxBytesPerStream: 1_048_576,
  maxEventAgeMs: 3_600_000 as number | null,
  streamTtlMs: 3_600_000 as number | null,
  refreshIntervalMs: 30_000 as number | null,
  commandTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
  reconnectMaxDelayMs: 2_000,
  maxPendingCommands: 10_000,
  repairBatch: 500,
  subscriberLingerMs: 5_000,
  maxIdleSubscriptions: 10_000,
  jobLeaseMs: 15_000,
  lostJobTtlMs: 3_600_000,
  trustRestartedData: false,
} as const;

function positive(name: string, value: unknown, allowNull = false): void {
  if (allowNull && value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new OutlastError(
      'invalid-option',
      `${name} must be a non-negative number${allowNull ? ' or null' : ''}, got ${String(value)}`,
    );
  }
}

/** Applies defaults and checks options; throws `invalid-option` naming the bad one. */
export function resolveRedisStoreOptions(options: RedisStoreOptions) {
  const o = {
    ...redisStoreDefaults,
    url: process.env.REDIS_URL || redisStoreDefaults.url,
    ...options,
  };
  for (const name of [
    'maxEventsPerStream',
    'maxBytesPerStream',
    'commandTimeoutMs',
    'connectTimeoutMs',
    'reconnectMaxDelayMs',
    'maxPendingCommands',
    'subscriberLingerMs',
    'maxIdleSubscriptions',
    'jobLeaseMs',
    'lostJobTtlMs',
  ] as const) {
    positive(name, o[name]);
  }
  for (const name of ['maxEventAgeMs', 'streamTtlMs', 'refreshIntervalMs'] as const) {
    positive(name, o[name], true);
  }
  if (o.maxEventsPerStream < 1 || o.repairBatch < 1) {
    throw new OutlastError('invalid-option', 'maxEventsPerStream and repairBatch must be >= 1');
  }
  return {
    ...o,
    instanceId: o.instanceId ?? `${hostname()}-${process.pid}-${newEpoch().slice(0, 6)}`,
    now: o.now ?? Date.now,
    onConnectionChange:
      o.onConnectionChange === undefined
        ? (error: Error | null) =>
            console.warn(error === null ? 'outlast: Redis is back' : `outlast: ${error.message}`)
        : o.onConnectionChange,
  };
}
