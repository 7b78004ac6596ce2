import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect, type Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attachWebSocket, createOutlast, type Outlast } from '../../src/server/index.js';
import { createMemoryStore, type Store } from '../../src/store/index.js';
import { testRedisStore } from '../helpers/redis-store.js';
import { expectIdle, heldBy, sleep } from '../helpers/server.js';

/*
 * Adversarial clients over every transport x adapter x store: raw sockets that leave at each
 * phase of a request (during connect, before the request ends, during authorize, during the
 * first read, mid catch-up, mid live, after the end), that never read, that half-close, that
 * send garbage. Afterwards the server holds nothing and nothing rejected unhandled.
 * WebSocket runs on the Node adapter only (`attachWebSocket`; the fetch adapter has none).
 */

type Kind = 'sse' | 'ws' | 'poll';
type Adapter = 'node' | 'fetch';
type StoreKind = 'memory' | 'redis';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** A store whose reads wait `ms` first: time for a client to leave during the first read. */
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

interface Host {
  outlast: Outlast;
  port: number;
  close(): Promise<void>;
}

async function host(adapter: Adapter, storeKind: StoreKind): Promise<Host> {
  const raw = storeKind === 'memory' ? createMemoryStore() : await testRedisStore();
  const outlast = createOutlast({
    store: slowReads(raw, 40),
    // Slow enough that a client can leave in the middle.
    authorize: async (request) => {
      await sleep(40);
      // An identity and an address on every adapter: the per-client counts must return to 0.
      return request.headers.get('x-deny') === null ? { identity: 'adversary' } : false;
    },
    clientAddress: (_request, peer) => peer ?? '192.0.2.1',
    heartbeatTickMs: 20,
    minHeartbeatMs: 100,
    readBatch: 50,
    maxBufferBytes: 64 * 1024,
    onError: () => {},
  });
  let server: Server;
  if (adapter === 'node') {
    server = createServer(outlast.handleNode);
    attachWebSocket(outlast, server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  } else {
    server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: outlast.fetch, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(s as Server),
      ) as Server;
    });
  }
  return {
    outlast,
    port: (server.address() as AddressInfo).port,
    async close() {
      await outlast.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (storeKind === 'redis') await raw.close();
    },
  };
}

function requestHead(kind: Kind, path: string, extra = ''): string {
  const lines = [`GET ${path} HTTP/1.1`, 'host: 127.0.0.1'];
  if (kind === 'ws') {
    lines.push(
      'upgrade: websocket',
      'connection: Upgrade',
      'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version: 13',
    );
  }
  return `${lines.join('\r\n')}\r\n${extra}\r\n`;
}

function streamPath(kind: Kind, streamId: string, lastEventId = ''): string {
  const q = new URLSearchParams({ lastEventId, heartbeat: '100' });
  if (kind === 'poll') {
    q.set('transport', 'poll');
    q.set('wait', '3000');
  }
  return `/outlast/streams/${streamId}?${q}`;
}

/** A raw TCP client; `bytes` counts what came back. */
function open(port: number): Promise<{ socket: Socket; bytes: () => number }> {
  return new Promise((resolve) => {
    let received = 0;
    const socket = netConnect(port, '127.0.0.1', () => resolve({ socket, bytes: () => received }));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.on('error', () => {});
  });
}

async function waitBytes(bytes: () => number, atLeast: number, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (bytes() < atLeast && Date.now() < deadline) await sleep(5);
}

type Scenario = (port: number, kind: Kind, streams: Streams) => Promise<void>;

interface Streams {
  /** Retained events, live: readers catch up from it. */
  live: string;
  /** Its newest id. */
  liveHead: string;
  /** Thousands of retained events. */
  long: string;
  /** Ended. */
  ended: string;
}

const scenarios: Record<string, Scenario> = {
  'leaves during connect': async (port) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.destroy();
  },
  'leaves before the request ends': async (port, kind, s) => {
    const { socket } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.live)).slice(0, 40));
    await sleep(20);
    socket.resetAndDestroy();
  },
  'leaves during authorize': async (port, kind, s) => {
    const { socket } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.live, s.liveHead)));
    await sleep(15);
    socket.resetAndDestroy();
  },
  'leaves during the first read': async (port, kind, s) => {
    const { socket } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.live, s.liveHead)));
    await sleep(60);
    socket.destroy();
  },
  'leaves mid catch-up': async (port, kind, s) => {
    const { socket, bytes } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.long)));
    await waitBytes(bytes, 2_000);
    socket.resetAndDestroy();
  },
  'leaves mid live': async (port, kind, s) => {
    const { socket, bytes } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.live, s.liveHead)));
    await waitBytes(bytes, 100);
    await sleep(150);
    socket.destroy();
  },
  'leaves after the end': async (port, kind, s) => {
    const { socket, bytes } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.ended)));
    await waitBytes(bytes, 100);
    await sleep(100);
    socket.destroy();
  },
  'never reads (slow reader)': async (port, kind, s) => {
    const { socket } = await open(port);
    socket.pause();
    socket.write(requestHead(kind, streamPath(kind, s.long)));
    await sleep(400);
    socket.destroy();
  },
  'half-closes': async (port, kind, s) => {
    const { socket } = await open(port);
    socket.end(requestHead(kind, streamPath(kind, s.live, s.liveHead)));
    await sleep(300);
    socket.destroy();
  },
  'sends garbage': async (port, kind, s) => {
    const { socket, bytes } = await open(port);
    if (kind === 'ws') {
      // A real handshake, then bytes that are no WebSocket frame.
      socket.write(requestHead(kind, streamPath(kind, s.live, s.liveHead)));
      await waitBytes(bytes, 50);
      socket.write(Buffer.from([0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]));
    } else {
      socket.write('\x00\x01GARBAGE \xff\xfe\r\n\r\n');
    }
    await sleep(100);
    socket.destroy();
  },
  'is refused, then leaves': async (port, kind, s) => {
    const { socket } = await open(port);
    socket.write(requestHead(kind, streamPath(kind, s.live), 'x-deny: 1\r\n'));
    await sleep(80);
    socket.destroy();
  },
};

const matrix: [Kind, Adapter, StoreKind][] = [];
for (const storeKind of ['memory', 'redis'] as const) {
  for (const adapter of ['node', 'fetch'] as const) {
    for (const kind of ['sse', 'ws', 'poll'] as const) {
      if (kind === 'ws' && adapter === 'fetch') continue;
      matrix.push([kind, adapter, storeKind]);
    }
  }
}

describe.each(matrix)('%s on the %s adapter, %s store', (kind, adapter, storeKind) => {
  let h: Host | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('holds nothing after clients leave at every phase, and rejects nothing unhandled', async () => {
    h = await host(adapter, storeKind);
    const o = h.outlast;
    const streams: Streams = { live: 'live', liveHead: '', long: 'long', ended: 'ended' };
    for (let i = 0; i < 1_500; i++) await o.publish('long', { data: `${i} ${'x'.repeat(80)}` });
    streams.liveHead = await o.publish('live', { data: 'first' });
    await o.publish('ended', { data: 'only' });
    await o.end('ended');
    const publishing = (async () => {
      for (let i = 0; i < 40; i++) {
        await o.publish('live', { data: `live ${i}` });
        await sleep(10);
      }
    })();
    const before = unhandled.length;
    // Every scenario three times at once, so they also overlap each other.
    await Promise.all(
      Object.values(scenarios).flatMap((run) => [0, 1, 2].map(() => run(h!.port, kind, streams))),
    );
    await publishing;
    await expectIdle(o, 5_000).catch((error: unknown) => {
      throw new Error(`${String(error)}; stats ${JSON.stringify(heldBy(o))}`);
    });
    expect(unhandled.slice(before)).toEqual([]);
  });
});
