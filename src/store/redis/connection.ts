import { createHash } from 'node:crypto';
import { OutlastError } from '../../errors.js';

/**
 * The part of a node-redis client this store uses. Structural, so the store does not load
 * `redis` until it is created (it is an optional peer dependency) and tests could inject one.
 */
export interface RedisConnection {
  readonly isReady: boolean;
  sendCommand<T = unknown>(args: readonly string[], options?: { timeout?: number }): Promise<T>;
  subscribe(
    channel: string,
    listener: (message: Buffer, channel: Buffer) => unknown,
    bufferMode: true,
  ): Promise<void>;
  unsubscribe(
    channel: string,
    listener?: (message: Buffer, channel: Buffer) => unknown,
    bufferMode?: true,
  ): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'end' | 'reconnecting', listener: () => void): unknown;
  connect(): Promise<unknown>;
  destroy(): void;
}

/** How the two connections are made. */
export interface ConnectOptions {
  url: string;
  connectTimeoutMs: number;
  reconnectMaxDelayMs: number;
  maxPendingCommands: number;
  name: string;
}

/**
 * Socket options of every connection: fail fast until it was first ready (a clear error at
 * start), then reconnect for ever with backoff.
 */
function socketOptions(o: ConnectOptions, everReady: () => boolean) {
  return {
    connectTimeout: o.connectTimeoutMs,
    reconnectStrategy: (retries: number, cause: Error) =>
      everReady() ? Math.min(50 * 2 ** Math.min(retries, 10), o.reconnectMaxDelayMs) : cause,
  };
}

/**
 * The key a cluster routes a command by: the first key of EVAL/EVALSHA, none for scripts
 * without keys and for SCRIPT/INFO (any node), else the command's first argument. The store's
 * scripts touch one hash slot each (see keys.ts), so their first key names the slot.
 */
function routingKey(args: readonly string[]): string | undefined {
  const name = args[0]?.toUpperCase();
  if (name === 'EVAL' || name === 'EVALSHA') return Number(args[2]) > 0 ? args[3] : undefined;
  if (name === 'SCRIPT' || name === 'INFO' || name === 'PING') return undefined;
  return args[1];
}

/**
 * Opens one connection to a Redis Cluster (`clusterUrls`: some of its masters; the rest is
 * discovered). Commands go to the node owning their key's slot; Pub/Sub uses one node (classic
 * Pub/Sub reaches every node of a cluster). Reported as the single-node connection is.
 */
export async function openClusterConnection(
  o: ConnectOptions & { rootUrls: string[] },
): Promise<RedisConnection> {
  const { createCluster } = await loadRedis();
  let everReady = false;
  const cluster = createCluster({
    rootNodes: o.rootUrls.map((url) => ({ url })),
    RESP: 2,
    defaults: {
      name: o.name,
      disableOfflineQueue: true,
      commandsQueueMaxLength: o.maxPendingCommands,
      socket: socketOptions(o, () => everReady),
    },
  });
  cluster.on('error', () => {
    // As for one node: reported through each failed call.
  });
  try {
    await cluster.connect();
    everReady = true;
  } catch (error) {
    cluster.destroy();
    throw new OutlastError(
      'store-unavailable',
      `cannot connect to the Redis Cluster at ${o.rootUrls.map(redactUrl).join(', ')}: ${describe(error)}`,
      { cause: error },
    );
  }
  return {
    get isReady() {
      return cluster.isReady;
    },
    sendCommand: <T>(args: readonly string[], options?: { timeout?: number }) =>
      cluster.sendCommand<T>(routingKey(args), false, [...args], options),
    subscribe: (channel, listener, bufferMode) => cluster.subscribe(channel, listener, bufferMode),
    unsubscribe: (channel, listener, bufferMode) =>
      cluster.unsubscribe(channel, listener as never, bufferMode),
    on(event: string, listener: (...args: never[]) => void) {
      // A node back after a reconnect is what `ready` means for one connection.
      const name = event === 'ready' ? 'node-ready' : event === 'error' ? 'node-error' : event;
      cluster.on(name, listener as () => void);
      return this;
    },
    connect: () => cluster.connect(),
    destroy: () => cluster.destroy(),
  } as RedisConnection;
}

/** Where to find the `redis` package, and what to say when it is missing. */
async function loadRedis(): Promise<typeof import('redis')> {
  try {
    return await import('redis');
  } catch (error) {
    throw new OutlastError(
      'invalid-option',
      'outlast/store/redis needs the "redis" package (an optional peer dependency): npm install redis',
      { cause: error },
    );
  }
}

/** Hides the password of a URL for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/**
 * Opens one connection. It fails fast at start (a clear `store-unavailable` naming the URL);
 * once connected it reconnects for ever with backoff, and rejects commands at once while
 * disconnected (no offline queue: a publisher must learn that its event was not stored).
 */
export async function openConnection(o: ConnectOptions): Promise<RedisConnection> {
  const { createClient } = await loadRedis();
  let everReady = false;
  const client = createClient({
    url: o.url,
    RESP: 2,
    name: o.name,
    disableOfflineQueue: true,
    commandsQueueMaxLength: o.maxPendingCommands,
    socket: socketOptions(o, () => everReady),
  }) as unknown as RedisConnection;
  client.on('error', () => {
    // Reported through onConnectionChange and through each failed call; an 'error' event
    // without a listener would crash the process.
  });
  client.on('ready', () => {
    everReady = true;
  });
  try {
    await client.connect();
  } catch (error) {
    client.destroy();
    throw new OutlastError(
      'store-unavailable',
      `cannot connect to Redis at ${redactUrl(o.url)}: ${describe(error)}; start redis-server or set REDIS_URL`,
      { cause: error },
    );
  }
  return client;
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/**
 * Turns a client failure into an `OutlastError`: `store-full` when Redis is out of memory,
 * `store-unavailable` for everything else (down, reconnecting, timed out, queue full).
 */
export function storeError(what: string, error: unknown): OutlastError {
  if (error instanceof OutlastError) return error;
  const message = describe(error);
  if (message.startsWith('OOM')) {
    return new OutlastError(
      'store-full',
      `Redis is out of memory (maxmemory) and refused to ${what}; raise maxmemory or lower retention`,
      { cause: error },
    );
  }
  const timedOut =
    /timeout/i.test(message) || (error instanceof Error && /Timeout/.test(error.name));
  return new OutlastError(
    'store-unavailable',
    timedOut
      ? `Redis did not answer in time to ${what} (${message}); the outcome is unknown: check before retrying`
      : `Redis could not ${what} (${message}); nothing was stored: retry once Redis is back`,
    { cause: error },
  );
}

/** Raised when Redis does not answer in time. */
class CommandTimeout extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * Sends one command, rejecting after `timeout` ms. node-redis's own `timeout` only covers
 * the wait before the command is written; a Redis that stops answering (frozen, partitioned
 * without a reset) would otherwise keep the caller waiting for ever. The command stays in the
 * client's queue, which `maxPendingCommands` bounds.
 */
export function call<T>(
  client: RedisConnection,
  args: readonly string[],
  timeout: number,
): Promise<T> {
  return withTimeout(client.sendCommand<T>(args, { timeout }), timeout, String(args[0]));
}

/** Rejects with a timeout error when `promise` has not settled within `timeout` ms. */
export function withTimeout<T>(promise: Promise<T>, timeout: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CommandTimeout(`no answer to ${what} within ${timeout} ms`)),
        timeout,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A Lua script run by EVALSHA, falling back to EVAL when Redis does not know it (restart). */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T>(
    client: RedisConnection,
    keys: readonly string[],
    args: readonly string[],
    timeout: number,
  ): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await call<T>(client, ['EVALSHA', this.sha, ...tail], timeout);
    } catch (error) {
      if (!describe(error).startsWith('NOSCRIPT')) throw error;
      return call<T>(client, ['EVAL', this.source, ...tail], timeout);
    }
  }
}
