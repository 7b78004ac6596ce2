import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { Clock, ConnectOptions, WebSocketLike } from '../../src/client/index.js';
import { memoryProfileStore } from '../../src/client/index.js';
import { type ChaosProxy, createProxy } from '../../src/proxy/index.js';
import type { ProxyOptions } from '../../src/proxy/options.js';
import type { ServerOptions } from '../../src/server/index.js';
import { startServer, type TestServer } from '../helpers/server.js';

export { sleep, until } from '../helpers/server.js';

/** `ws` as the client's WebSocket (Node 20 has no global one). */
export const NodeWebSocket: WebSocketLike = WebSocket;

/** Client options for tests: scaled delays, `ws`, a private profile store, no reports. */
export function testOptions(extra: ConnectOptions = {}): ConnectOptions {
  return {
    WebSocket: NodeWebSocket,
    profile: memoryProfileStore(),
    initialDelayMs: 20,
    maxDelayMs: 200,
    healthyAfterMs: 300,
    openTimeoutMs: 3_000,
    reports: false,
    ...extra,
  };
}

/** A server with scaled timings for client tests. */
export function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  return startServer({ retryMs: 10, heartbeatMs: 200, ...options });
}

/** A proxy in front of `server`, closed with it. */
export async function proxyFor(
  server: TestServer,
  options: Omit<ProxyOptions, 'target'>,
): Promise<ChaosProxy & { base: string }> {
  const proxy = await createProxy({ target: server.origin, ...options });
  return Object.assign(proxy, { base: `${proxy.url}/outlast` });
}

/** Publishes `n` events `{ i }` to `streamId`, `gapMs` apart, then ends the stream. */
export async function publishSeries(
  server: TestServer,
  streamId: string,
  n: number,
  gapMs: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(await server.outlast.publish(streamId, { event: 'tick', data: { i } }));
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
  await server.outlast.end(streamId);
  return ids;
}

/** Collects every event of a connection until it ends. */
export async function collect(conn: AsyncIterable<{ id: string | null; data: string }>) {
  const got: Array<{ id: string | null; data: string }> = [];
  for await (const e of conn) got.push(e);
  return got;
}

const fixtures: Server[] = [];

/**
 * A plain HTTP server on 127.0.0.1, port 0, that answers with `handler` (any endpoint the
 * test plays byte for byte); returns its origin. Closed by {@link closeFixtures}.
 */
export async function httpFixture(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const s = createServer(handler);
  fixtures.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** Closes every {@link httpFixture} server (use in `afterEach`). */
export async function closeFixtures(): Promise<void> {
  for (const s of fixtures.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
}

/** A clock that moves only when told: stall detection and backoff without waiting. */
export function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
        if (next === undefined || next[1].at > end) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}
