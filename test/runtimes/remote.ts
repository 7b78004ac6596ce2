import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerOptions } from '../../src/server/index.js';
import type { TestServer } from '../helpers/server.js';
import { bundle, type RuntimeName, runtimeCommand, spawnWithPort } from './spawn.js';

export type { RuntimeName } from './spawn.js';

/*
 * The Node side of the runtime suites: starts Bun or Deno on the bundled test/runtimes/entry.ts
 * and gives the shared server suite a `startServer` whose servers live in that runtime. The
 * suite's calls on `server.outlast` (publish, end, startJob, cancelJob, getJob, store.info,
 * store.read, connections, close) go over a small control API; its clients reach the
 * runtime's own listener over real sockets.
 */

const RUNTIME_ENV = {
  DENO_NO_UPDATE_CHECK: '1',
  NO_COLOR: '1',
  BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0',
};

/** The marker the mocked `createMemoryStore` returns: the store is made in the runtime. */
export const STORE_OPTIONS = Symbol('store options');

interface Host {
  control: string;
  child: ChildProcess;
  dir: string;
}

const hosts = new Map<RuntimeName, Promise<Host>>();

async function startHost(name: RuntimeName): Promise<Host> {
  const dir = mkdtempSync(join(tmpdir(), `outlast-${name}-`));
  const file = await bundle('test/runtimes/entry.ts', dir);
  const [command, args] = runtimeCommand(name, file);
  const { child, port } = await spawnWithPort(command, args, { ...RUNTIME_ENV, DENO_DIR: dir });
  return { control: `http://127.0.0.1:${port}`, child, dir };
}

/** Stops the runtime started for this file (if any). */
export async function stopHost(name: RuntimeName): Promise<void> {
  const host = await hosts.get(name)?.catch(() => undefined);
  hosts.delete(name);
  if (host === undefined) return;
  host.child.kill('SIGKILL');
  rmSync(host.dir, { recursive: true, force: true });
}

async function rpc(host: Host, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${host.control}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as {
    ok: boolean;
    result?: unknown;
    code?: string | null;
    message?: string;
  };
  if (!answer.ok) {
    throw Object.assign(new Error(answer.message), { code: answer.code ?? undefined });
  }
  return answer.result;
}

function encode(value: unknown): unknown {
  if (typeof value === 'function') return { __fn: value.toString() };
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(encode);
  const marked = value as { [STORE_OPTIONS]?: unknown; __storeOf?: number };
  if (marked[STORE_OPTIONS] !== undefined) return { __store: marked[STORE_OPTIONS] };
  if (typeof marked.__storeOf === 'number') return { __storeOf: marked.__storeOf };
  if (value instanceof AbortSignal) {
    throw new Error('an AbortSignal cannot be handed to a server in another runtime');
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = encode(item);
  return out;
}

/** `startServer` of test/helpers/server.ts, with the server in the runtime `name`. */
export async function startRemoteServer(
  name: RuntimeName,
  options: ServerOptions = {},
): Promise<TestServer> {
  let pending = hosts.get(name);
  if (pending === undefined) {
    pending = startHost(name);
    hosts.set(name, pending);
  }
  const host = await pending;
  const created = (await rpc(host, '/create', {
    options: encode({
      heartbeatTickMs: 20,
      minHeartbeatMs: 100,
      minMaxStreamMs: 100,
      onError: () => {},
      ...options,
    }),
  })) as { id: number; port: number };
  const id = created.id;
  // Calls keep their order (a `clear()` the suite does not await comes before what follows).
  let chain: Promise<unknown> = Promise.resolve();
  const call = (method: string, ...args: unknown[]): Promise<unknown> => {
    const next = chain.then(() => rpc(host, '/call', { id, method, args }));
    chain = next.catch(() => {});
    return next;
  };
  const direct = (method: string, ...args: unknown[]) => rpc(host, '/call', { id, method, args });
  // `connections` and `stats()` are synchronous in process: here they are the last counts
  // read, refreshed every few ms (the suite polls them with `until` and `expectIdle`).
  let counts = (await direct('counts')) as { connections: number; stats: unknown };
  let closed = false;
  const refresh = async () => {
    while (!closed) {
      try {
        counts = (await direct('counts')) as typeof counts;
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  void refresh();
  const store = {
    __storeOf: id,
    info: (streamId: string) => call('store.info', streamId),
    read: (streamId: string, after: string | null, limit = 1000) =>
      call('store.read', streamId, after, limit),
    clear: () => void call('store.clear'),
  };
  const outlast = {
    store,
    get connections() {
      return counts.connections;
    },
    stats: () => counts.stats,
    publish: (streamId: string, event: unknown) => call('publish', streamId, event),
    end: (streamId: string, final?: unknown) => call('end', streamId, final),
    async startJob(fn: () => unknown, jobOptions: Record<string, unknown> = {}) {
      const { id: jobId } = (await call('startJob', fn.toString(), encode(jobOptions))) as {
        id: string;
      };
      let settled: Promise<unknown> | undefined;
      return {
        id: jobId,
        get settled() {
          settled ??= direct('settled', jobId);
          return settled;
        },
        cancel: (reason?: string) => call('cancelHandle', jobId, reason),
      };
    },
    cancelJob: (jobId: string, reason?: string) => call('cancelJob', jobId, reason),
    getJob: (jobId: string) => call('getJob', jobId),
    async close() {
      if (closed) return;
      closed = true;
      await call('close');
    },
  };
  const origin = `http://127.0.0.1:${created.port}`;
  return {
    outlast: outlast as unknown as TestServer['outlast'],
    server: undefined as unknown as TestServer['server'],
    origin,
    base: `${origin}/outlast`,
    close: () => outlast.close(),
  };
}

/** `inProcessOnly` of test/helpers/server.ts for a runtime suite: listed as skipped, with why. */
export function skipInProcessOnly(name: RuntimeName) {
  return (why: string) => (title: string) =>
    it.skip(`${title} [needs the server in the test process, not run on ${name}: ${why}]`);
}

/** What the runtime hosting this file's servers says it is. */
export async function hostRuntime(
  name: RuntimeName,
): Promise<{ runtime: string; version: string }> {
  const server = await startRemoteServer(name);
  const host = await hosts.get(name)!;
  const answer = (await rpc(host, '/runtime', {})) as { runtime: string; version: string };
  await server.close();
  return answer;
}

/** The mocked test/helpers/server.ts of a runtime suite. */
export function serverModule<T extends object>(name: RuntimeName, original: T): T {
  return {
    ...original,
    startServer: (options?: ServerOptions) => startRemoteServer(name, options),
    inProcessOnly: skipInProcessOnly(name),
  };
}

/** The mocked src/store/index.ts: `createMemoryStore` names the options of a store to make there. */
export function storeModule<T extends object>(original: T): T {
  return { ...original, createMemoryStore: (options = {}) => ({ [STORE_OPTIONS]: options }) };
}

const RUNTIME_TITLE: Record<RuntimeName, string> = { bun: 'Bun', deno: 'Deno' };

/**
 * Registers the shared server suite (transports, resume, gaps, heartbeats, rotation, jobs,
 * limits, bad input) for a file whose mocks put its servers in `name`.
 */
export async function runtimeSuite(name: RuntimeName): Promise<void> {
  afterAll(() => stopHost(name));
  await import('../server/transports.test.js');
  await import('../server/jobs.test.js');
  await import('../server/bad-input.test.js');
  await import('./departures.js');
  describe('the server suite above', () => {
    it(`ran on ${RUNTIME_TITLE[name]}`, async () => {
      const host = await hostRuntime(name);
      expect(host.runtime).toBe(name);
      expect(host.version).toMatch(/^\d+\.\d+\.\d+/);
    });
  });
}
