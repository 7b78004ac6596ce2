import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'vitest';
import {
  attachWebSocket,
  createOutlast,
  type Outlast,
  type ServerOptions,
} from '../../src/server/index.js';

/** A real outlast server on 127.0.0.1, port 0 (plain node:http plus WebSocket attach). */
export interface TestServer {
  outlast: Outlast;
  server: Server;
  /** `http://127.0.0.1:{port}` */
  origin: string;
  /** `{origin}/outlast` */
  base: string;
  close(): Promise<void>;
}

/** Starts a server with test-friendly scaled limits merged under `options`. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const outlast = createOutlast({
    heartbeatTickMs: 20,
    minHeartbeatMs: 100,
    minMaxStreamMs: 100,
    onError: () => {},
    ...options,
  });
  const server = createServer(outlast.handleNode);
  attachWebSocket(outlast, server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    outlast,
    server,
    origin,
    base: `${origin}/outlast`,
    async close() {
      await outlast.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` every 10 ms until true or `timeoutMs` (then throws with `what`). */
export async function until(
  predicate: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The non-zero counts of `outlast.stats()`, flattened (`connections.sse`, `sessions`, ...). */
export function heldBy(outlast: Outlast): Record<string, number> {
  const held: Record<string, number> = {};
  const { connections, ...rest } = outlast.stats();
  for (const [name, count] of Object.entries(connections)) {
    if (count !== 0) held[`connections.${name}`] = count;
  }
  for (const [name, count] of Object.entries(rest)) if (count !== 0) held[name] = count;
  return held;
}

/**
 * Waits until the server holds nothing (every `stats()` count 0), else throws naming what it
 * still holds. The leak check behind the shared suite's `afterEach`.
 */
export async function expectIdle(outlast: Outlast, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = heldBy(outlast);
    if (Object.keys(held).length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`the server still holds ${JSON.stringify(held)} after its clients left`);
    }
    await sleep(10);
  }
}

/** Anything with an outlast server to check and a way to close it (a TestServer, a host). */
export interface Closable {
  readonly outlast: Outlast;
  close(): Promise<void>;
}

/**
 * The `afterEach` of a server test: asserts the server (a test server, or an `Outlast` with
 * no listener of its own) holds nothing once its clients are gone ({@link expectIdle}), then
 * closes it either way. Every test becomes a leak test.
 */
export async function closeIdle(server: Closable | Outlast | undefined): Promise<void> {
  if (server === undefined) return;
  const outlast = 'outlast' in server ? server.outlast : server;
  try {
    await expectIdle(outlast);
  } finally {
    await server.close();
  }
}

/**
 * `it` for a test that needs the server in this process: its job closes over test state, or
 * it hands over an `AbortSignal` or the Node server. The runtime suites (test/runtimes) run
 * the server in another process and list such a test as skipped there, saying why.
 */
export function inProcessOnly(_why: string): (title: string, fn: () => Promise<void>) => void {
  return (title, fn) => it(title, fn);
}
