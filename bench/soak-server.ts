/**
 * bench:soak's server under test, in a process of its own (so its memory is the server's, not
 * the clients'): one outlast server (Node adapter, WebSocket attached) on the memory store or
 * the Redis store, its publishers, and a memory sampler. Driven over IPC by bench/soak.ts; see
 * the method there.
 *
 * Usage (by the driver): node --expose-gc --import tsx bench/soak-server.ts
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getHeapSpaceStatistics } from 'node:v8';
import { attachWebSocket, createOutlast } from '../src/server/index.js';
import { createMemoryStore, type MemoryStore, type Store } from '../src/store/index.js';
import { createRedisStore } from '../src/store/redis/index.js';

/** What the driver sends; every command is answered with `{ id, ...reply }`. */
export type SoakCommand = { id: number } & (
  | {
      type: 'start';
      store: 'memory' | 'redis';
      redisUrl: string;
      keyPrefix: string;
      streams: number;
      retained: number;
      resultTtlMs: number;
    }
  | { type: 'go' }
  | { type: 'stopPublishing' }
  | { type: 'stats' }
  | { type: 'truth' }
  | { type: 'finish'; jobIds: string[] }
);

/** One memory sample, taken after a forced GC. */
export interface MemorySample {
  /** Seconds since `go`. */
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Committed bytes of each V8 heap space (`new_space`, `old_space`, `code_space`, ...). */
  spaces: Record<string, number>;
  /** Memory store only: what it holds (streams, job records, idempotency keys). */
  held: MemoryStore['counts'] | null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('bench/soak-server.ts needs node --expose-gc');
  process.exit(2);
}

let store: Store;
let outlast: ReturnType<typeof createOutlast>;
let server: ReturnType<typeof createServer>;
let streams: string[] = [];
let publishing = false;
let publishers: Promise<void>[] = [];
let sampler: NodeJS.Timeout | undefined;
const samples: MemorySample[] = [];
let errors = 0;
let publishFailures = 0;

/** The payload of an event: `stream:n`, n counting from 0 per stream. */
const payload = (id: string, n: number) => `${id}:${n}`;

async function start(c: Extract<SoakCommand, { type: 'start' }>): Promise<{ base: string }> {
  // Retention is bounded and short, so the retained set is at its steady size after warm-up
  // and growth past it is a leak, not a growing log or growing job records.
  store =
    c.store === 'memory'
      ? createMemoryStore({
          maxEventsPerStream: c.retained,
          idleStreamTtlMs: c.resultTtlMs,
          sweepIntervalMs: 1_000,
        })
      : await createRedisStore({
          url: c.redisUrl,
          keyPrefix: c.keyPrefix,
          maxEventsPerStream: c.retained,
          commandTimeoutMs: 2_000,
          onConnectionChange: null,
        });
  outlast = createOutlast({
    store,
    heartbeatTickMs: 50,
    minHeartbeatMs: 100,
    minMaxStreamMs: 200,
    maxStreamMs: 1_000,
    pollWaitMs: 500,
    resultTtlMs: c.resultTtlMs,
    authorize: async () => {
      await sleep(Math.random() * 20);
      return true;
    },
    jobs: {
      ok: async (ctx) => {
        for (let i = 0; i < 3; i++) {
          await sleep(20);
          await ctx.progress({ i });
        }
        return 'done';
      },
      fail: async (ctx) => {
        await ctx.progress({ i: 0 });
        throw new Error('planned failure');
      },
      slow: async (ctx) => {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 400);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve(null);
          });
        });
        return 'slow done';
      },
    },
    onError: () => {
      errors++;
    },
  });
  server = createServer(outlast.handleNode);
  attachWebSocket(outlast, server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  streams = Array.from({ length: c.streams }, (_, i) => `s${i}`);
  // Warm-up: every stream's log filled to its retention bound before anything is measured.
  await Promise.all(
    streams.map(async (id) => {
      for (let n = 0; n < c.retained; n++) await outlast.publish(id, { data: payload(id, n) });
    }),
  );
  const counters = new Map(streams.map((id) => [id, c.retained]));
  publishing = true;
  publishers = streams.map(async (id) => {
    while (publishing) {
      const n = counters.get(id)!;
      counters.set(id, n + 1);
      try {
        await outlast.publish(id, { data: payload(id, n) });
      } catch {
        // Redis paused or restarting: the number is skipped; the store's log is the truth.
        publishFailures++;
      }
      await sleep(25);
    }
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/outlast` };
}

function go(): void {
  const t0 = performance.now();
  sampler = setInterval(() => {
    gc!();
    const m = process.memoryUsage();
    samples.push({
      t: (performance.now() - t0) / 1_000,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      spaces: Object.fromEntries(
        getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]),
      ),
      held: 'counts' in store ? (store as MemoryStore).counts : null,
    });
  }, 1_000);
}

async function truth(): Promise<Record<string, [number, string, number][]>> {
  const out: Record<string, [number, string, number][]> = {};
  for (const id of streams) {
    const read = await store.read(id, null).catch(() => null);
    out[id] = (read?.events ?? []).map((e) => [
      Number(e.data.slice(e.data.indexOf(':') + 1)),
      e.id,
      e.time,
    ]);
  }
  return out;
}

async function finish(jobIds: string[]) {
  if (sampler !== undefined) clearInterval(sampler);
  const report = await outlast.drain({ deadlineMs: 2_000 });
  let unsettled = 0;
  for (const id of jobIds) {
    const record = await store.getJob(id).catch(() => null);
    if (record !== null && record.state === 'running') unsettled++;
  }
  await outlast.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store.close();
  return { interrupted: report.jobsInterrupted, unsettled, samples, errors, publishFailures };
}

process.on('message', async (c: SoakCommand) => {
  const reply = (body: object) => process.send!({ id: c.id, ...body });
  try {
    if (c.type === 'start') reply(await start(c));
    else if (c.type === 'go') {
      go();
      reply({});
    } else if (c.type === 'stopPublishing') {
      publishing = false;
      await Promise.all(publishers);
      reply({});
    } else if (c.type === 'stats') reply({ stats: outlast.stats() });
    else if (c.type === 'truth') reply({ truth: await truth() });
    else if (c.type === 'finish') reply(await finish(c.jobIds));
  } catch (error) {
    reply({ error: String((error as Error)?.stack ?? error) });
  }
});
process.on('disconnect', () => process.exit(0));
