import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.js';
import { command } from '../helpers/redis-server.js';
import { sleep, startServer, type TestServer } from '../helpers/server.js';
import { runStoreSuite } from '../store/store-suite.js';

/*
 * The Redis store on a real Redis Cluster of three masters (loopback ports chosen free at run
 * time, started and stopped here): every script's keys share one hash slot, so nothing fails
 * with CROSSSLOT, and the whole store contract holds as on one node.
 */

let cluster: TestCluster;
const stores: RedisStore[] = [];
const prefixes = new Map<RedisStore, string>();
let counter = 0;

beforeAll(async () => {
  cluster = await startCluster();
}, 30_000);
afterAll(async () => {
  for (const store of stores) await store.close();
  await cluster?.close();
});

async function make(options: Parameters<typeof createRedisStore>[0] = {}): Promise<RedisStore> {
  const keyPrefix = options.keyPrefix ?? `c${process.pid}-${counter++}:`;
  const store = await createRedisStore({
    clusterUrls: cluster.urls,
    onConnectionChange: null,
    ...options,
    keyPrefix,
  });
  stores.push(store);
  prefixes.set(store, keyPrefix);
  return store;
}

runStoreSuite('redis cluster', {
  create: (options) => make(options),
  // A flush of every master (KEYS-based clear() sees one node only).
  loseHistory: async () => {
    for (const port of cluster.ports) await command(port, ['FLUSHALL']);
  },
  peer: (store) => make({ keyPrefix: prefixes.get(store as RedisStore)! }),
});

describe('jobs on a Redis Cluster', () => {
  it('spreads streams over every master', async () => {
    const store = await make();
    for (let i = 0; i < 30; i++) await store.append(`s${i}`, { event: 'message', data: 'x' });
    const counts = await Promise.all(cluster.ports.map((p) => command(p, ['DBSIZE'])));
    for (const reply of counts) expect(Number(reply.slice(1))).toBeGreaterThan(0);
  });

  it('starts, settles, cancels and idempotently starts jobs across two instances', async () => {
    const keyPrefix = `cj${counter++}:`;
    let ran = 0;
    const jobs = {
      work: async (ctx: { progress(d: unknown): Promise<void> }) => {
        ran++;
        await ctx.progress({ step: 1 });
        await sleep(100);
        return { ok: true };
      },
    };
    const servers: TestServer[] = [];
    try {
      servers.push(await startServer({ store: await make({ keyPrefix }), jobs }));
      servers.push(await startServer({ store: await make({ keyPrefix }), jobs }));
      const [a, b] = servers as [TestServer, TestServer];
      const headers = { 'content-type': 'application/json', 'idempotency-key': 'k1' };
      const starts = await Promise.all(
        [a, b, a, b].map((s) => fetch(`${s.base}/jobs/work`, { method: 'POST', headers })),
      );
      const ids = await Promise.all(
        starts.map(async (r) => ((await r.json()) as { jobId: string }).jobId),
      );
      expect(new Set(ids).size).toBe(1);
      const reader = connect('sse', b.base, ids[0]!);
      expect((await reader.finished).how).toBe('end');
      expect(eventsOf(reader.messages).map((e) => e.event)).toEqual(['progress', 'outlast.result']);
      expect(ran).toBe(1);
      const forever = await a.outlast.startJob(
        (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
      );
      expect(await b.outlast.cancelJob(forever.id, 'from b')).toBe(true);
      expect(await forever.settled).toMatchObject({ state: 'cancelled' });
      expect(await b.outlast.getJob(forever.id)).toMatchObject({ state: 'cancelled' });
    } finally {
      for (const s of servers) await s.close();
    }
  });
});
