import { afterAll } from 'vitest';
import {
  createRedisStore,
  type RedisStore,
  type RedisStoreOptions,
} from '../../src/store/redis/index.js';
import { startRedis, type TestRedis } from './redis-server.js';

/*
 * One redis-server per test file, started on first use and stopped after the file's tests;
 * every store gets its own key prefix so tests never see each other's streams.
 */

let redis: Promise<TestRedis> | null = null;
const stores = new Set<RedisStore>();
let counter = 0;

/** The file's redis-server (started on first call). */
export function testRedis(): Promise<TestRedis> {
  redis ??= startRedis();
  return redis;
}

/** A new Redis store with a key prefix of its own; closed after the file's tests. */
export async function testRedisStore(options: RedisStoreOptions = {}): Promise<RedisStore> {
  const server = await testRedis();
  const store = await createRedisStore({
    url: server.url,
    keyPrefix: `t${process.pid}-${counter++}:`,
    onConnectionChange: null,
    ...options,
  });
  stores.add(store);
  const close = store.close.bind(store);
  store.close = async () => {
    stores.delete(store);
    await close();
  };
  return store;
}

afterAll(async () => {
  for (const store of [...stores]) await store.close();
  if (redis !== null) await (await redis).close();
  redis = null;
});
