import { connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import { createMemoryStore, type Store } from '../../src/store/index.js';
import { connect, type TransportKind } from '../helpers/clients.js';
import { testRedisStore } from '../helpers/redis-store.js';
import {
  closeIdle,
  expectIdle,
  sleep,
  startServer,
  type TestServer,
  until,
} from '../helpers/server.js';

/*
 * A client that leaves while the server awaits (authorize, the first store read) must leave
 * nothing registered: no slot, no session, no store listener, no timing-wheel entry.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

/** A store whose reads (or `info`, for upgrades) take `ms` longer. */
function slowReads(store: Store, ms: number): Store {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (name !== 'read' && name !== 'info') return value;
      return async (...args: unknown[]) => {
        await sleep(ms);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const slowAuthorize = async () => {
  await sleep(300);
  return true;
};

describe.each<TransportKind>(['sse', 'ws', 'poll'])('Node adapter, %s', (kind) => {
  for (const phase of ['authorize', 'first read'] as const) {
    it(`holds nothing after 5 clients leave during ${phase}`, async () => {
      const store = createMemoryStore();
      server = await startServer(
        phase === 'authorize'
          ? { store, authorize: slowAuthorize }
          : { store: slowReads(store, 300) },
      );
      await server.outlast.publish('s', { data: 'a' });
      const head = (await store.info('s'))!.lastId;
      const conns = Array.from({ length: 5 }, () =>
        connect(kind, server!.base, 's', { lastEventId: head, query: { wait: '5000' } }),
      );
      await sleep(100);
      for (const conn of conns) conn.cut();
      // Past the pending await: a registration made then would show now.
      await sleep(500);
      await expectIdle(server.outlast, 1000);
    });
  }
});

describe('fetch adapter', () => {
  let outlast: Outlast | undefined;
  afterEach(async () => {
    const o = outlast;
    outlast = undefined;
    await closeIdle(o);
  });

  for (const phase of ['authorize', 'first read'] as const) {
    for (const transport of ['sse', 'poll'] as const) {
      it(`holds nothing after ${transport} clients leave during ${phase}`, async () => {
        const store = createMemoryStore();
        outlast = createOutlast(
          phase === 'authorize'
            ? { store, authorize: slowAuthorize, onError: () => {} }
            : { store: slowReads(store, 300), onError: () => {} },
        );
        await outlast.publish('s', { data: 'a' });
        const head = (await store.info('s'))!.lastId!;
        const answers = Array.from({ length: 5 }, () => {
          const controller = new AbortController();
          const url = `http://app.test/outlast/streams/s?transport=${transport}&wait=5000&lastEventId=${head}`;
          setTimeout(() => controller.abort(), 100);
          return outlast!.fetch(new Request(url, { signal: controller.signal }));
        });
        // Nobody reads the responses: the client is gone. A held poll is answered at once.
        const asked = Date.now();
        await Promise.all(answers);
        expect(Date.now() - asked).toBeLessThan(1500);
        await sleep(200);
        await expectIdle(outlast, 1000);
      });
    }
  }
});

describe('many resets at once on the Redis store', () => {
  it('holds nothing after 200 SSE requests are reset together', async () => {
    const store = await testRedisStore();
    // 200 clients from one loopback address: no per-address limit.
    server = await startServer({ store, maxConnections: 1000, maxConnectionsPerAddress: null });
    await server.outlast.publish('s', { data: 'a' });
    const { port } = new URL(server.origin);
    const sockets: Socket[] = [];
    await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          new Promise<void>((resolve) => {
            const socket = netConnect(Number(port), '127.0.0.1', () => {
              socket.write('GET /outlast/streams/s HTTP/1.1\r\nhost: x\r\n\r\n', () => resolve());
            });
            socket.on('error', () => {});
            sockets.push(socket);
          }),
      ),
    );
    for (const socket of sockets) socket.resetAndDestroy();
    await sleep(300);
    await expectIdle(server.outlast, 3000);
    const close = server.close;
    await close();
    server = undefined;
    await store.close();
  });
});

describe('timing', () => {
  it('counts the rotation deadline from the request, not from the end of authorize', async () => {
    server = await startServer({ authorize: slowAuthorize });
    await server.outlast.publish('s', { data: 'a' });
    const started = Date.now();
    const conn = connect('sse', server.base, 's', { query: { maxStream: '600' } });
    const finish = await conn.finished;
    expect(finish.how).toBe('rotate');
    // Before the fix it ended about 300 ms (authorize) later than asked.
    expect(Date.now() - started).toBeLessThan(600 + 150);
    await expectIdle(server.outlast);
  });

  it('keeps heartbeats going when the wall clock steps back a minute', async () => {
    let step = 0;
    server = await startServer({ now: () => Date.now() - step });
    await server.outlast.publish('s', { data: 'a' });
    const conn = connect('sse', server.base, 's', { query: { heartbeat: '200' } });
    await conn.waitFor((m) => m.type === 'heartbeat');
    step = 60_000;
    const before = conn.messages.length;
    await sleep(900);
    const beats = conn.messages.slice(before).filter((m) => m.type === 'heartbeat');
    conn.cut();
    // 200 ms apart: about 4 in 900 ms; on the wall clock none would come for a minute.
    expect(beats.length).toBeGreaterThanOrEqual(3);
    await until(() => server!.outlast.connections === 0, 'the reader to be gone');
  });
});

describe('close', () => {
  it('closes the memory store it created, and leaves a store passed in open', async () => {
    const own = createOutlast({});
    await own.close();
    // The default store's sweep timer would otherwise run (and hold the store) for good.
    await expect(own.store.append('s', { event: 'message', data: 'x' })).rejects.toMatchObject({
      code: 'store-closed',
    });

    const store = createMemoryStore();
    const shared = createOutlast({ store });
    await shared.close();
    await expect(store.append('s', { event: 'message', data: 'x' })).resolves.toMatchObject({
      data: 'x',
    });
    await store.close();
  });
});
