import * as vm from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/*
 * The fetch path with no Node globals: the server is bundled for a neutral platform (any
 * `node:` import on the path fails the build) and run in a fresh V8 context that has only
 * what Workers, Deno and browsers share: no `process`, no `Buffer`, and timers that return
 * numbers (so a `.unref()` on a handle throws).
 */

const ENTRY = `
export { createOutlast } from './src/server/outlast.js';
export { createMemoryStore } from './src/store/memory.js';
`;

async function bundle(): Promise<string> {
  const out = await build({
    stdin: { contents: ENTRY, resolveDir: process.cwd(), loader: 'ts' },
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'lib',
    platform: 'neutral',
    target: 'es2022',
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

interface Lib {
  createMemoryStore(options: Record<string, unknown>): { close(): Promise<void> };
  createOutlast(options: Record<string, unknown>): {
    fetch(request: Request): Promise<Response>;
    connections: number;
    close(): Promise<void>;
  };
}

/** A context with web globals only; timers are tracked so the test can see none is left. */
function webContext() {
  const live = new Set<number>();
  let next = 1;
  const handles = new Map<number, ReturnType<typeof setTimeout>>();
  const timer =
    (repeat: boolean) =>
    (fn: () => void, ms?: number): number => {
      const id = next++;
      const run = () => {
        if (!repeat) {
          live.delete(id);
          handles.delete(id);
        }
        fn();
      };
      handles.set(id, repeat ? setInterval(run, ms) : setTimeout(run, ms));
      live.add(id);
      return id;
    };
  const clear = (id: unknown) => {
    const handle = handles.get(id as number);
    if (handle !== undefined) clearTimeout(handle);
    handles.delete(id as number);
    live.delete(id as number);
  };
  const globals = {
    Request,
    Response,
    Headers,
    ReadableStream,
    WritableStream,
    TransformStream,
    TextEncoder,
    TextDecoder,
    URL,
    URLSearchParams,
    AbortController,
    AbortSignal,
    Event,
    EventTarget,
    crypto,
    btoa,
    atob,
    structuredClone,
    queueMicrotask,
    console,
    setTimeout: timer(false),
    setInterval: timer(true),
    clearTimeout: clear,
    clearInterval: clear,
  };
  const context = vm.createContext(globals);
  return { context, live };
}

describe('the fetch path without Node globals', () => {
  it('bundles for a neutral platform and serves a job over SSE and long-polling', async () => {
    const code = await bundle();
    const { context, live } = webContext();
    vm.runInContext(code, context);
    const probe = vm.runInContext(
      '[typeof process, typeof Buffer, typeof require, typeof setImmediate]',
      context,
    ) as string[];
    expect(probe).toEqual(['undefined', 'undefined', 'undefined', 'undefined']);
    const lib = vm.runInContext('lib', context) as Lib;
    const store = lib.createMemoryStore({});
    const outlast = lib.createOutlast({
      store,
      heartbeatTickMs: 20,
      minHeartbeatMs: 100,
      onError: () => {},
      jobs: {
        count: async (ctx: { progress(d: unknown): Promise<void> }) => {
          for (let i = 1; i <= 3; i++) {
            await new Promise((resolve) => context.setTimeout(resolve, 150));
            await ctx.progress({ i });
          }
          return 'done';
        },
      },
    });
    const base = 'http://worker.test/outlast';
    const started = await outlast.fetch(
      new Request(`${base}/jobs/count`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(started.status).toBe(202);
    const { jobId } = (await started.json()) as { jobId: string };

    // SSE with a heartbeat: the wheel's interval runs on number handles.
    const sse = await outlast.fetch(new Request(`${base}/jobs/${jobId}/events?heartbeat=100`));
    expect(sse.status).toBe(200);
    const text = await sse.text();
    expect(text).toContain('event: outlast.open');
    expect(text.match(/event: progress/g)).toHaveLength(3);
    expect(text).toContain('event: outlast.result');
    expect(text).toContain('event: outlast.end');
    expect(text.match(/^: hb \d+$/gm)?.length).toBeGreaterThanOrEqual(2);

    // Long-polling from the start reads the same log.
    const poll = await outlast.fetch(new Request(`${base}/jobs/${jobId}/events?transport=poll`));
    const batch = (await poll.json()) as { events: { event: string }[]; end: boolean };
    expect(batch.events.map((e) => e.event)).toEqual([
      'progress',
      'progress',
      'progress',
      'outlast.result',
    ]);
    expect(batch.end).toBe(true);

    const record = await outlast.fetch(new Request(`${base}/jobs/${jobId}`));
    expect(await record.json()).toMatchObject({ state: 'succeeded', result: 'done' });
    expect(outlast.connections).toBe(0);
    await outlast.close();
    await store.close();
    expect(live.size).toBe(0);
  });
});
