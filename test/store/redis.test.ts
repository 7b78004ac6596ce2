import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { runStoreSuite } from './store-suite.js';

/*
 * The shared store contract on a real redis-server of this file's own. Every store gets its
 * own key prefix, so the tests do not see each other's streams.
 */

let redis: TestRedis;
const stores: RedisStore[] = [];
let counter = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await redis?.close();
});

/** The key prefix of each store, so a peer can share its data. */
const prefixes = new Map<RedisStore, string>();

async function make(options: Parameters<typeof createRedisStore>[0] = {}): Promise<RedisStore> {
  const keyPrefix = options.keyPrefix ?? `t${process.pid}-${counter++}:`;
  const store = await createRedisStore({
    url: redis.url,
    onConnectionChange: null,
    ...options,
    keyPrefix,
  });
  stores.push(store);
  prefixes.set(store, keyPrefix);
  return store;
}

runStoreSuite('redis', {
  create: (options) => make(options),
  loseHistory: (store) => (store as RedisStore).clear(),
  peer: (store) => make({ keyPrefix: prefixes.get(store as RedisStore)! }),
});

describe('redis store across instances', () => {
  it('shares streams between two stores on one Redis and prefix', async () => {
    const prefix = `shared${counter++}:`;
    const a = await make({ keyPrefix: prefix });
    const b = await make({ keyPrefix: prefix });
    const got: string[] = [];
    await a.create('s');
    await b.subscribe('s', {
      event: (e) => got.push(e.data),
      end: () => got.push('END'),
      lost() {},
    });
    await a.append('s', { event: 'message', data: 'one' });
    await a.end('s', { event: 'message', data: 'two' });
    const deadline = Date.now() + 5000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['one', 'two', 'END']);
    expect((await b.read('s', null))?.events.map((e) => e.data)).toEqual(['one', 'two']);
  });
});
