/**
 * bench:soak: does the server hold over time, under churn and store faults?
 *
 * Method (printed first): one process runs an outlast server on 127.0.0.1 (Node adapter with
 * WebSocket attached) and its clients. Per store (memory, then Redis; half of `--seconds`
 * each, default 120 s in all):
 * - 20 streams are published to every 25 ms each (data = "stream:n");
 * - 60 logical readers churn: each connects over a random transport (SSE, WebSocket,
 *   long-poll), resumes from the last id it saw, and cuts at a random moment (0 to 400 ms:
 *   during connect, during the 0-20 ms authorize, during the first read, mid catch-up, mid
 *   live) or runs into a rotation (maxStream 1 s);
 * - every 50 ms a job is started over HTTP with an Idempotency-Key: a quarter succeed after
 *   progress, a quarter fail, a quarter are cancelled by DELETE, a quarter are POSTed twice
 *   with the same key (a retried start);
 * - on Redis: paused (SIGSTOP) 800 ms at 25 % and 50 % of the phase, restarted (SHUTDOWN
 *   SAVE, start) at 70 %;
 * - at the end, clients stop; the server must then hold nothing (`stats()` all 0 once running
 *   jobs settle), and `drain()` ends the phase.
 * Lost / duplicated / reordered are judged against the store's own log read at the end: for
 * each reader, an event the store holds between the first and last it saw that it never got
 * (and no gap notice excused) is lost; one it got twice is duplicated; one that came after a
 * later one is reordered. Retention is bounded (2 000 events per stream), so memory
 * growth means a leak, not a growing log. RSS is sampled every second after a forced GC
 * (node --expose-gc); per store phase, growth is the median of the last 10 % of samples over
 * the median of the 10 % just after warm-up (the first 20 % of the phase); the worse phase
 * is reported.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachWebSocket, createOutlast, type Outlast } from '../src/server/index.js';
import { createMemoryStore, type Store } from '../src/store/index.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { connect, type TransportKind } from '../test/helpers/clients.js';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { median, printTable, result } from './util.js';

const args = process.argv.slice(2);
const secondsAt = args.indexOf('--seconds');
const totalSeconds = secondsAt === -1 ? 120 : Number(args[secondsAt + 1]);
if (!Number.isFinite(totalSeconds) || totalSeconds <= 0) {
  console.error('--seconds must be a positive number');
  process.exit(2);
}
const STREAMS = 20;
const READERS = 60;
/**
 * Events retained per stream: bounded, so that memory growth means a leak rather than a
 * growing log. A reader resuming from an evicted id gets a gap (excused, not lost).
 */
const RETAINED = 2_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const gc = (globalThis as { gc?: () => void }).gc;

console.log(
  `bench:soak, ${totalSeconds} s (half memory store, half Redis): ${STREAMS} streams, ${READERS} churning readers over SSE/WebSocket/long-poll, jobs every 50 ms, Redis paused twice and restarted once, drain at the end. RSS after forced GC${gc === undefined ? ' (no --expose-gc: noisier)' : ''}.`,
);

interface Reader {
  stream: string;
  lastId: string | null;
  got: number[];
  /** Ranges (after, before) a gap notice excused. */
  excused: [number, number][];
}

interface PhaseFigures {
  store: string;
  clients: number;
  jobs: number;
  leaked: Record<string, number>;
  lost: number;
  duplicated: number;
  reordered: number;
  unsettled: number;
  interrupted: number;
  idempotentRetries: number;
  idempotentSame: number;
  errors: number;
  /** RSS samples, bytes, one a second. */
  rss: number[];
}

function numberOf(data: string): number {
  return Number(data.slice(data.indexOf(':') + 1));
}

async function phase(
  name: string,
  seconds: number,
  redis: TestRedis | null,
): Promise<PhaseFigures> {
  let errors = 0;
  const store: Store =
    redis === null
      ? createMemoryStore({ maxEventsPerStream: RETAINED })
      : await createRedisStore({
          url: redis.url,
          keyPrefix: `soak${Date.now()}:`,
          maxEventsPerStream: RETAINED,
          commandTimeoutMs: 2_000,
          onConnectionChange: null,
        });
  const outlast: Outlast = createOutlast({
    store,
    heartbeatTickMs: 50,
    minHeartbeatMs: 100,
    minMaxStreamMs: 200,
    maxStreamMs: 1_000,
    pollWaitMs: 500,
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
  const server = createServer(outlast.handleNode);
  attachWebSocket(outlast, server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/outlast`;
  const deadline = Date.now() + seconds * 1_000;
  let running = true;

  // Publishers.
  const streams = Array.from({ length: STREAMS }, (_, i) => `s${i}`);
  for (const id of streams) await outlast.publish(id, { data: `${id}:0` });
  const publishers = streams.map(async (id) => {
    let n = 1;
    while (running) {
      try {
        await outlast.publish(id, { data: `${id}:${n}` });
      } catch {
        // Redis paused or restarting: the number is skipped; the store's log is the truth.
      }
      n++;
      await sleep(25);
    }
  });

  // Readers.
  let clients = 0;
  const readers: Reader[] = Array.from({ length: READERS }, (_, i) => ({
    stream: streams[i % STREAMS]!,
    lastId: null,
    got: [],
    excused: [],
  }));
  const kinds: TransportKind[] = ['sse', 'ws', 'poll'];
  const readLoops = readers.map(async (reader) => {
    while (running) {
      const kind = kinds[Math.floor(Math.random() * kinds.length)]!;
      const conn = connect(kind, base, reader.stream, {
        lastEventId: reader.lastId,
        query: { heartbeat: '200', wait: '500' },
      });
      clients++;
      const cutAfter = Math.random() * 400;
      const timer = setTimeout(() => conn.cut(), cutAfter);
      const finish = await Promise.race([conn.finished, sleep(5_000).then(() => null)]);
      clearTimeout(timer);
      if (finish === null) conn.cut();
      let last = reader.got.at(-1) ?? -1;
      for (const m of conn.messages) {
        if (m.type === 'gap') reader.excused.push([last, Number.POSITIVE_INFINITY]);
        if (m.type !== 'event') continue;
        const n = numberOf(m.data);
        const open = reader.excused.at(-1);
        if (open !== undefined && open[1] === Number.POSITIVE_INFINITY) open[1] = n;
        reader.got.push(n);
        reader.lastId = m.id;
        last = n;
      }
      if (finish !== null && finish.status !== undefined && finish.status >= 500) await sleep(100);
    }
  });

  // Jobs.
  const jobIds = new Set<string>();
  let jobs = 0;
  let idempotentRetries = 0;
  let idempotentSame = 0;
  const startJob = async (kind: string, key: string): Promise<string | null> => {
    try {
      const res = await fetch(`${base}/jobs/${kind}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: '{}',
      });
      if (res.status !== 202) {
        await res.text();
        return null;
      }
      const { jobId } = (await res.json()) as { jobId: string };
      jobIds.add(jobId);
      return jobId;
    } catch {
      return null;
    }
  };
  const jobLoop = (async () => {
    for (let i = 0; running; i++) {
      const key = `${name}-${i}-${Math.random().toString(36).slice(2)}`;
      const which = i % 4;
      jobs++;
      if (which === 0) void startJob('ok', key);
      else if (which === 1) void startJob('fail', key);
      else if (which === 2) {
        void startJob('slow', key).then(async (id) => {
          if (id === null) return;
          await sleep(30);
          await fetch(`${base}/jobs/${id}`, { method: 'DELETE' })
            .then((r) => r.text())
            .catch(() => {});
        });
      } else {
        void (async () => {
          const first = await startJob('ok', key);
          const again = await startJob('ok', key);
          if (first === null || again === null) return; // refused (503 during a pause)
          idempotentRetries++;
          if (first === again) idempotentSame++;
        })();
      }
      await sleep(50);
    }
  })();

  // Redis faults.
  const faults = (async () => {
    if (redis === null) return;
    const at = (f: number) => sleep(Math.max(0, deadline - seconds * 1_000 * (1 - f) - Date.now()));
    await at(0.25);
    redis.pause();
    await sleep(800);
    redis.resume();
    await at(0.5);
    redis.pause();
    await sleep(800);
    redis.resume();
    await at(0.7);
    await redis.stop({ save: true });
    await sleep(300);
    await redis.start();
  })();

  // RSS.
  const rss: number[] = [];
  const sampler = setInterval(() => {
    gc?.();
    rss.push(process.memoryUsage().rss);
  }, 1_000);

  await sleep(Math.max(0, deadline - Date.now()));
  running = false;
  await Promise.all([...publishers, ...readLoops, jobLoop, faults]);
  clearInterval(sampler);

  // Clients are gone: let jobs settle, then nothing may be held.
  const idleBy = Date.now() + 10_000;
  const held = (): Record<string, number> => {
    const s = outlast.stats();
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(s.connections)) if (v !== 0) out[`connections.${k}`] = v;
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number' && v !== 0) out[k] = v;
    return out;
  };
  while (Object.keys(held()).length > 0 && Date.now() < idleBy) await sleep(50);
  const leaked = held();

  // The truth: what the store holds, per stream.
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  const truth = new Map<string, number[]>();
  for (const id of streams) {
    const read = await store.read(id, null).catch(() => null);
    truth.set(
      id,
      (read?.events ?? []).map((e) => numberOf(e.data)),
    );
  }
  for (const reader of readers) {
    const seen = new Set<number>();
    let max = -1;
    for (const n of reader.got) {
      if (seen.has(n)) duplicated++;
      else if (n < max) reordered++;
      seen.add(n);
      max = Math.max(max, n);
    }
    if (reader.got.length === 0) continue;
    const first = Math.min(...reader.got);
    for (const n of truth.get(reader.stream) ?? []) {
      if (n < first || n > max || seen.has(n)) continue;
      if (reader.excused.some(([a, b]) => n > a && n < b)) continue;
      lost++;
    }
  }

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
  return {
    store: name,
    clients,
    jobs,
    leaked,
    lost,
    duplicated,
    reordered,
    unsettled,
    interrupted: report.jobsInterrupted,
    idempotentRetries,
    idempotentSame,
    errors,
    rss,
  };
}

const redis = await startRedis();
const phases: PhaseFigures[] = [];
try {
  phases.push(await phase('memory', totalSeconds / 2, null));
  phases.push(await phase('redis', totalSeconds / 2, redis));
} finally {
  await redis.close();
}

/** Growth of one phase: the last 10 % of its samples over the 10 % after its warm-up. */
function growthOf(samples: number[]): { early: number; late: number; pct: number } {
  const warm = Math.max(1, Math.floor(samples.length * 0.2));
  const tenth = Math.max(1, Math.floor(samples.length * 0.1));
  const early = median(samples.slice(warm, warm + tenth));
  const late = median(samples.slice(-tenth));
  return { early, late, pct: early > 0 ? ((late - early) / early) * 100 : 0 };
}
const growths = phases.map((p) => growthOf(p.rss));
const growth = Math.max(...growths.map((g) => g.pct));

printTable(
  [
    'store',
    'clients',
    'jobs',
    'leaked',
    'lost',
    'dup',
    'reord',
    'unsettled',
    'interrupted',
    'idem same/retried',
    'onError',
  ],
  phases.map((p) => [
    p.store,
    String(p.clients),
    String(p.jobs),
    Object.keys(p.leaked).length === 0 ? '0' : JSON.stringify(p.leaked),
    String(p.lost),
    String(p.duplicated),
    String(p.reordered),
    String(p.unsettled),
    String(p.interrupted),
    `${p.idempotentSame}/${p.idempotentRetries}`,
    String(p.errors),
  ]),
);
for (const [i, g] of growths.entries()) {
  console.log(
    `${phases[i]!.store}: RSS after warm-up ${(g.early / 2 ** 20).toFixed(1)} MiB, at the end ${(g.late / 2 ** 20).toFixed(1)} MiB: growth ${g.pct.toFixed(1)} % (goal <= 5 %)`,
  );
}
const sum = (f: (p: PhaseFigures) => number) => phases.reduce((a, p) => a + f(p), 0);
const leakedTotal = sum((p) => Object.values(p.leaked).reduce((a, b) => a + b, 0));
const figures = {
  bench: 'soak',
  seconds: totalSeconds,
  clients: sum((p) => p.clients),
  jobs: sum((p) => p.jobs),
  leaked: leakedTotal,
  rss_growth_pct: Number(growth.toFixed(1)),
  lost: sum((p) => p.lost),
  duplicated: sum((p) => p.duplicated),
  reordered: sum((p) => p.reordered),
  unsettled_jobs: sum((p) => p.unsettled),
  idempotent_same: sum((p) => p.idempotentSame),
  idempotent_retried: sum((p) => p.idempotentRetries),
};
const atGoal =
  figures.leaked === 0 &&
  figures.lost === 0 &&
  figures.duplicated === 0 &&
  figures.reordered === 0 &&
  figures.unsettled_jobs === 0 &&
  figures.rss_growth_pct <= 5;
console.log(atGoal ? 'goal met' : 'goal MISSED (see the figures above)');
result(figures);
