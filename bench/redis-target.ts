/**
 * bench:redis's server under test, in a process of its own: outlast on the memory store or on
 * the Redis store, one node:http server, readers on the stream `bench`. Driven over IPC by
 * bench/redis.ts; see the method there.
 *
 * Usage (by the driver): node --import tsx bench/redis-target.ts memory|redis [url] [prefix]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOutlast } from '../src/server/index.js';
import { createMemoryStore } from '../src/store/index.js';
import { createRedisStore } from '../src/store/redis/index.js';

const [kind, url, prefix] = process.argv.slice(2);
const store =
  kind === 'redis'
    ? await createRedisStore({ url, keyPrefix: prefix, onConnectionChange: null })
    : createMemoryStore();
const outlast = createOutlast({ store, maxConnections: 100_000, onError: () => {} });
const server = createServer(outlast.handleNode);
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;
// The stream exists before readers come (a reader of an unknown stream gets 404).
await outlast.publish('bench', { data: 'start' });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

const now = () => performance.timeOrigin + performance.now();
const pad = 'x'.repeat(80);

type Command =
  | { type: 'stats' }
  | { type: 'cpu' }
  | { type: 'publish'; count: number; window: number; paceMs: number };

process.on('message', async (m: Command) => {
  if (m.type === 'stats') {
    process.send!({ type: 'stats', connections: outlast.connections });
  } else if (m.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send!({ type: 'cpu', ms: (user + system) / 1000 });
  } else if (m.type === 'publish') {
    const started = now();
    // `window` publishes in flight at once: the Redis store pipelines them on its connection
    // (one round trip each otherwise); order is kept (one connection, one Lua script each).
    let inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < m.count; i++) {
      inFlight.push(outlast.publish('bench', { data: `t=${now().toFixed(3)};${pad}` }));
      if (inFlight.length >= m.window) {
        await Promise.all(inFlight);
        inFlight = [];
        // Let sockets flush between windows. The memory store's publishes complete in
        // microtasks: without this, all E events would be written to every reader within one
        // macrotask, buffering N x E events at once (a burst no application makes).
        await new Promise((r) => setImmediate(r));
      }
      if (m.paceMs > 0) await new Promise((r) => setTimeout(r, m.paceMs));
    }
    await Promise.all(inFlight);
    process.send!({ type: 'published', ms: now() - started });
  }
});

process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
