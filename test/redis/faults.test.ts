import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isOutlastError, OutlastError } from '../../src/errors.js';
import type { StoredEvent } from '../../src/store/index.js';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { connect, eventsOf, type Message, type TransportKind } from '../helpers/clients.js';
import { startInstance } from '../helpers/cluster.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { sleep, startServer, type TestServer, until } from '../helpers/server.js';

/*
 * Redis failing under the store: down at start, down while publishing, frozen, restarted
 * mid-stream (with its data, and without being trusted to have kept it).
 */

let redis: TestRedis;
let counter = 0;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
  redis.resume();
  await redis.start();
});
afterAll(async () => {
  await redis?.close();
});

async function store(options: Parameters<typeof createRedisStore>[0] = {}): Promise<RedisStore> {
  const made = await createRedisStore({
    url: redis.url,
    keyPrefix: `f${counter++}:`,
    onConnectionChange: null,
    reconnectMaxDelayMs: 100,
    ...options,
  });
  open.push(made);
  return made;
}

const ev = (data: string) => ({ event: 'message', data });

describe('Redis down at start', () => {
  it('rejects createRedisStore with store-unavailable naming the URL, at once', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const error = await createRedisStore({ url, onConnectionChange: null }).catch((e) => e);
    expect(error).toBeInstanceOf(OutlastError);
    expect(error.code).toBe('store-unavailable');
    expect(error.message).toContain(url);
    expect(error.message).toMatch(/REDIS_URL/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('makes a server process exit at startup with that message', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(
      startInstance({ REDIS_URL: url, KEY_PREFIX: 'x:', INSTANCE_ID: 'nodb' }),
    ).rejects.toThrow(/exited with 3.*cannot connect to Redis/s);
  });
});

describe('Redis down while publishing', () => {
  it('rejects appends with store-unavailable at once, then works again once Redis is back', async () => {
    const s = await store();
    const first = await s.append('s', ev('before'));
    await redis.stop();
    const started = Date.now();
    const error = await s.append('s', ev('during')).catch((e) => e);
    expect(isOutlastError(error, 'store-unavailable')).toBe(true);
    expect(error.message).toMatch(/nothing was stored|outcome is unknown/);
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(s.read('s', null)).rejects.toMatchObject({ code: 'store-unavailable' });
    await redis.start();
    let after: StoredEvent | null = null;
    const deadline = Date.now() + 10_000;
    while (after === null && Date.now() < deadline) {
      after = await s.append('s', ev('after')).catch(() => null);
      if (after === null) await sleep(50);
    }
    expect(after).not.toBeNull();
    // Redis came back empty: a new epoch, and a reader at the old id is told.
    expect(after!.id.split(':')[0]).not.toBe(first.id.split(':')[0]);
    expect((await s.read('s', first.id))?.gap?.reason).toBe('epoch');
  });

  it('tells live readers on another instance that history was lost', async () => {
    const prefix = `lost${counter++}:`;
    const a = await store({ keyPrefix: prefix });
    const b = await store({ keyPrefix: prefix });
    await a.append('s', ev('one'));
    let lost = 0;
    await b.subscribe('s', { event() {}, end() {}, lost: () => lost++ });
    await redis.stop();
    await redis.start();
    await until(() => lost === 1, 'lost() after Redis came back empty', 10_000);
  });

  it('bounds what waits for a frozen Redis: queue limit and command timeout', async () => {
    const s = await store({ maxPendingCommands: 10, commandTimeoutMs: 500 });
    await s.append('s', ev('warm'));
    redis.pause();
    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => s.append('s', ev(`x${i}`))),
    );
    const took = Date.now() - started;
    redis.resume();
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    for (const r of results) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'store-unavailable' });
    }
    expect(took).toBeLessThan(5000);
  });
});

/** Reads a stream from `base` until it ends, reconnecting after every cut or refusal. */
async function readAll(kind: TransportKind, base: string, streamId: string) {
  const messages: Message[] = [];
  let last: string | null = null;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const conn = connect(kind, base, streamId, {
      lastEventId: last,
      query: kind === 'poll' ? { wait: '300' } : { heartbeat: '1000' },
    });
    const finish = await conn.finished;
    messages.push(...conn.messages);
    const events = eventsOf(conn.messages);
    if (events.length > 0) last = events.at(-1)!.id;
    if (finish.how === 'end' || finish.status === 204) return messages;
    await sleep(finish.how === 'refused' ? 100 : 10);
  }
  throw new Error(`${kind}: the stream did not end in time`);
}

describe.each([
  { trust: true, what: 'with its data, trusted' },
  { trust: false, what: 'not trusted to have kept everything (the default)' },
])('Redis restarted mid-stream, its data kept, $what', ({ trust }) => {
  let servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers) await s.close();
    servers = [];
  });

  it('instances reconnect; readers on every transport resume with nothing lost or repeated', async () => {
    const prefix = `restart${counter++}:`;
    const options = { keyPrefix: prefix, trustRestartedData: trust };
    const a = await startServer({ store: await store(options) });
    const b = await startServer({ store: await store(options) });
    servers = [a, b];
    const streamId = 'mid';
    await a.outlast.publish(streamId, { data: 'p0' });
    const readers = (['sse', 'ws', 'poll'] as const).map((kind) => ({
      kind,
      done: readAll(kind, b.base, streamId),
    }));
    const acknowledged: string[] = ['p0'];
    let refused = 0;
    for (let i = 1; i <= 60; i++) {
      if (i === 20) {
        await redis.stop({ save: true });
        // Publishing while Redis is down: the publisher is told, and retries.
        setTimeout(() => void redis.start(), 400);
      }
      for (;;) {
        try {
          await a.outlast.publish(streamId, { data: `p${i}` });
          acknowledged.push(`p${i}`);
          break;
        } catch (error) {
          expect(error).toMatchObject({ code: 'store-unavailable' });
          refused++;
          await sleep(25);
        }
      }
      await sleep(10);
    }
    await a.outlast.end(streamId, { event: 'done', data: 'last' });
    acknowledged.push('last');
    expect(refused).toBeGreaterThan(0);
    // What the log holds, once: every acknowledged event (a publish whose answer was lost in
    // the shutdown and was retried may be there twice: it is then in the log twice).
    const log = (await b.outlast.store.read(streamId, null))!.events.map((e) => e.data);
    expect(log.filter((d, i) => log.indexOf(d) === i)).toEqual(acknowledged);
    for (const reader of readers) {
      const messages = await reader.done;
      const gaps = messages.filter((m) => m.type === 'gap');
      const afterLastGap = messages.slice(
        gaps.length === 0 ? 0 : messages.lastIndexOf(gaps.at(-1)!) + 1,
      );
      const got = eventsOf(afterLastGap).map((e) => e.data);
      // The restart kept the data (SHUTDOWN SAVE): trusted or not, ids survive it. Events
      // appended after it start a new epoch when not trusted, the kept ones keep their ids:
      // exactly the log, no gap, nothing twice.
      expect(gaps, reader.kind).toEqual([]);
      expect(got, reader.kind).toEqual(log);
    }
  }, 90_000);
});
