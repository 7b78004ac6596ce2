import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { until } from '../helpers/server.js';
import {
  expectIdle,
  readSse,
  sseRoute,
  startTestGateway,
  startTestUpstream,
  type TestGateway,
  type TestUpstream,
  userEvents,
} from './helpers.js';

/* Several gateway instances on one Redis, behind a balancer: any of them serves any run. */

let redis: TestRedis;
let up: TestUpstream;
const stores: RedisStore[] = [];
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  redis = await startRedis();
  up = await startTestUpstream({
    '/events': sseRoute(20, 20),
    '/ocr': (_req, res) => {
      const t = setTimeout(() => res.end('{"pages":9}'), 400);
      res.once('close', () => clearTimeout(t));
    },
  });
  const prefix = `gw${Date.now()}:`;
  for (const instanceId of ['a', 'b']) {
    stores.push(
      await createRedisStore({
        url: redis.url,
        keyPrefix: prefix,
        instanceId,
        maxEventsPerStream: 10_000,
      }),
    );
  }
  a = await startTestGateway({ upstream: up.url, store: stores[0]! });
  b = await startTestGateway({ upstream: up.url, store: stores[1]! });
}, 30_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
  for (const s of stores) await s.close();
  await up?.close();
  await redis?.close();
});
afterEach(async () => {
  await expectIdle(a.gateway);
  await expectIdle(b.gateway);
  up.hits.clear();
  up.aborted.clear();
});

describe('gateway instances sharing a Redis store', () => {
  it('a run started on one instance is resumed on another: nothing lost, one upstream request', async () => {
    const first = await readSse(
      `${a.url}/events`,
      {},
      (events) => events.filter((e) => !e.type.startsWith('outlast.')).length >= 5,
    );
    const second = await readSse(`${b.url}/events`, {
      headers: { 'last-event-id': first.events.at(-1)!.id! },
    });
    const all = [...userEvents(first), ...userEvents(second)].map(
      (e) => (JSON.parse(e.data) as { n: number }).n,
    );
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(second.events.at(-1)?.type).toBe('outlast.end');
    expect(up.hits.get('/events')).toBe(1);
  });

  it('a job started on one instance is fetched and cancelled on another', async () => {
    const started = await fetch(`${a.url}/ocr`, {
      method: 'POST',
      headers: { prefer: 'respond-async' },
    });
    const { result } = (await started.json()) as { result: string };
    expect(((await (await fetch(`${b.url}${result}`)).json()) as { state: string }).state).toBe(
      'running',
    );
    await until(() => up.hits.get('/ocr') === 1, 'upstream reached');
    const del = await fetch(`${b.url}${result}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    await until(
      () => up.aborted.get('/ocr') === 1,
      'the upstream request aborted on instance a',
      5000,
    );
    await until(() => a.gateway.stats().runs === 0, 'run settled');
    expect(((await (await fetch(`${b.url}${result}`)).json()) as { state: string }).state).toBe(
      'cancelled',
    );
  });
});
