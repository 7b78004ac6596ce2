/*
 * Runs inside Bun or Deno (bundled by test/runtimes/remote.ts): a control server on port 0
 * whose port is printed as `PORT n`, through which the Node-side tests create outlast servers
 * here, each served by the runtime's own binding (`outlast/bun`, `outlast/deno`) on a port of
 * its own, and call the server API (publish, end, jobs, store) as they would in process.
 * Functions in the options (job handlers, authorize) arrive as source text.
 */
import { bunHandlers } from '../../src/server/adapters/bun.js';
import { denoHandler } from '../../src/server/adapters/deno.js';
import type { JobHandle } from '../../src/server/jobs.js';
import { createOutlast, type Outlast } from '../../src/server/outlast.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';

interface Listening {
  port: number;
  stop(): Promise<void>;
}

interface BunLike {
  serve(options: Record<string, unknown>): { port: number; stop(force?: boolean): void };
}
interface DenoLike {
  serve(
    options: Record<string, unknown>,
    handler: (request: Request) => Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
  exit(code: number): never;
}

const bun = (globalThis as { Bun?: BunLike }).Bun;
const deno = (globalThis as { Deno?: DenoLike }).Deno;
const runtime = bun !== undefined ? 'bun' : deno !== undefined ? 'deno' : 'unknown';

function listen(
  outlast: Outlast | null,
  handler: (request: Request) => Promise<Response>,
): Listening {
  if (bun !== undefined) {
    const fetchAndWs = outlast === null ? { fetch: handler } : bunHandlers(outlast);
    const server = bun.serve({ port: 0, hostname: '127.0.0.1', ...fetchAndWs });
    return {
      port: server.port,
      stop: async () => server.stop(true),
    };
  }
  if (deno !== undefined) {
    const server = deno.serve(
      { port: 0, hostname: '127.0.0.1', onListen: () => {} },
      outlast === null ? handler : denoHandler(outlast),
    );
    return {
      port: server.addr.port,
      // Graceful shutdown waits for idle keep-alive connections; do not wait for them here.
      stop: async () => {
        void server.shutdown();
      },
    };
  }
  throw new Error('this entry runs on Bun or Deno');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/*
 * The test helpers a revived function may name. Vitest rewrites imported names as
 * `__vite_ssr_import_N__.name`; every such module object resolves to these helpers.
 */
const helpers = { sleep };
const scope = new Proxy(helpers, {
  has: (_, name) =>
    typeof name === 'string' && (name === 'sleep' || name.startsWith('__vite_ssr_import_')),
  get: (_, name) => (name === 'sleep' ? sleep : helpers),
});

function revive(source: string): unknown {
  // A sloppy-mode body, so `with` can supply the helpers' names.
  const make = (body: string) => new Function('scope', `with (scope) { return (${body}); }`)(scope);
  try {
    return make(source);
  } catch {
    // Method shorthand (`name(ctx) { ... }`) is not an expression on its own.
    return Object.values(make(`{${source}}`) as object)[0];
  }
}

interface Instance {
  outlast: Outlast;
  listening: Listening;
  ownStore: Store | null;
  jobs: Map<string, JobHandle>;
}
const instances = new Map<number, Instance>();
let nextId = 1;

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== 'object') return value;
  const v = value as Record<string, unknown>;
  if (typeof v.__fn === 'string') return revive(v.__fn);
  if (v.__store !== undefined) return createMemoryStore(v.__store as Record<string, unknown>);
  if (typeof v.__storeOf === 'number') return instances.get(v.__storeOf)?.outlast.store;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(v)) out[key] = decode(item);
  return out;
}

async function create(options: Record<string, unknown>): Promise<unknown> {
  const decoded = decode(options) as Record<string, unknown>;
  const ownStore = decoded.store === undefined ? createMemoryStore() : null;
  const outlast = createOutlast({ ...decoded, ...(ownStore ? { store: ownStore } : {}) });
  const listening = listen(outlast, (request) => outlast.fetch(request));
  const id = nextId++;
  instances.set(id, { outlast, listening, ownStore, jobs: new Map() });
  return { id, port: listening.port, runtime };
}

async function call(instance: Instance, method: string, args: unknown[]): Promise<unknown> {
  const { outlast } = instance;
  switch (method) {
    case 'publish':
      return outlast.publish(args[0] as string, args[1] as { data?: unknown });
    case 'end':
      return outlast.end(args[0] as string, (args[1] ?? undefined) as { data?: unknown });
    case 'startJob': {
      const fn = revive(args[0] as string) as Parameters<Outlast['startJob']>[0];
      const handle = await outlast.startJob(fn, decode(args[1]) as Record<string, unknown>);
      instance.jobs.set(handle.id, handle);
      return { id: handle.id };
    }
    case 'settled':
      return instance.jobs.get(args[0] as string)?.settled ?? null;
    case 'cancelHandle':
      return instance.jobs.get(args[0] as string)?.cancel(args[1] as string | undefined) ?? false;
    case 'cancelJob':
      return outlast.cancelJob(args[0] as string, args[1] as string | undefined);
    case 'getJob':
      return outlast.getJob(args[0] as string);
    case 'counts':
      return { connections: outlast.connections, stats: outlast.stats() };
    case 'options':
      return JSON.parse(JSON.stringify(outlast.options));
    case 'store.info':
      return outlast.store.info(args[0] as string);
    case 'store.read':
      return outlast.store.read(args[0] as string, args[1] as string | null, args[2] as number);
    case 'store.clear':
      (outlast.store as unknown as { clear(): void }).clear();
      return null;
    case 'close':
      await outlast.close();
      await instance.ownStore?.close();
      await instance.listening.stop();
      return null;
    default:
      throw new Error(`unknown method ${method}`);
  }
}

async function control(request: Request): Promise<Response> {
  const url = new URL(request.url);
  try {
    const body =
      request.method === 'POST' ? ((await request.json()) as Record<string, unknown>) : {};
    let result: unknown;
    if (url.pathname === '/create') result = await create(body.options as Record<string, unknown>);
    else if (url.pathname === '/call') {
      const instance = instances.get(body.id as number);
      if (instance === undefined) throw new Error(`no server ${String(body.id)}`);
      result = await call(instance, body.method as string, (body.args as unknown[]) ?? []);
    } else if (url.pathname === '/runtime') {
      const versions = globalThis as {
        Bun?: { version: string };
        Deno?: { version: { deno: string } };
      };
      result = { runtime, version: versions.Bun?.version ?? versions.Deno?.version.deno ?? '' };
    } else return new Response('not found', { status: 404 });
    return Response.json({ ok: true, result: result ?? null });
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return Response.json({ ok: false, code: e.code ?? null, message: String(e.message ?? error) });
  }
}

const server = listen(null, control);
console.log(`PORT ${server.port} ${runtime}`);
