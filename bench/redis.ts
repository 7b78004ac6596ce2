/**
 * bench:redis: fan-out through Redis across two outlast instances, beside one instance on the
 * memory store, in the same run on the same machine.
 *
 * Method:
 * - A redis-server of its own (free port, temporary directory, no persistence).
 * - Every server under test is a process of its own (bench/redis-target.ts), holding N SSE
 *   readers of the stream `bench`, opened by a load process of its own (bench/redis-load.ts,
 *   raw `net` sockets that count `id:` lines; `sample` readers per process also parse a
 *   `t=<ms>` stamp for latency).
 *   memory: one instance, memory store, N readers; it publishes.
 *   redis:  instances A and B on one Redis (same key prefix), N readers each; A publishes,
 *           so every event goes A -> Redis (Lua XADD + PUBLISH) -> the Pub/Sub connection of
 *           A and of B -> their N readers each.
 * - Throughput round: the publishing instance publishes E events (`window` publishes in flight
 *   at once, as an application publishing concurrently would, yielding to the event loop
 *   between windows so sockets flush), and the round ends when every
 *   reader of every instance has all E. Per-instance throughput = N x E / CPU seconds the
 *   instance's process used in the round (process.cpuUsage): what one instance can deliver per
 *   second of a core, which does not depend on how the 2 cores of this machine are shared
 *   between servers, load generators and Redis. The Redis figure is the lower of A (which also
 *   publishes, like the memory instance) and B. ratio_vs_memory = that / memory's.
 *   deliveries_per_s = all deliveries of the round (2 x N x E for redis) / wall time from the
 *   first publish to the last receipt (bound by this machine's 2 cores, shown as measured).
 *   Medians over `rounds` rounds.
 * - Latency round: L events paced `pace` ms apart, publish-to-receipt on the sampled readers
 *   of every instance; p50 and p99 over all of them. The pace keeps the load far below the
 *   throughput measured above (20 events/s x 2 x N readers), so the figure is the path's
 *   latency, not queueing behind a saturated machine.
 *
 * Usage: npm run bench:redis [-- --readers 1000 --events 1000 --rounds 3 --window 16
 *        --latency-events 100 --pace 50 --sample 20]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRedis } from '../test/helpers/redis-server.js';
import { median, printTable, quantile, result } from './util.js';

const { values: args } = parseArgs({
  options: {
    readers: { type: 'string', default: '1000' },
    events: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '16' },
    'latency-events': { type: 'string', default: '100' },
    pace: { type: 'string', default: '50' },
    sample: { type: 'string', default: '20' },
  },
});
const N = Number(args.readers);
const E = Number(args.events);
const ROUNDS = Number(args.rounds);
const WINDOW = Number(args.window);
const L = Number(args['latency-events']);
const PACE = Number(args.pace);
const SAMPLE = Number(args.sample);

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function next<T>(child: ChildProcess, type: string, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`no ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

function spawnNode(file: string, argv: string[] = []): ChildProcess {
  return fork(here(file), argv, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
}

interface Setup {
  name: string;
  targets: ChildProcess[];
  loaders: ChildProcess[];
}

async function setUp(name: string, targetArgs: string[][]): Promise<Setup> {
  const targets: ChildProcess[] = [];
  const loaders: ChildProcess[] = [];
  for (const argv of targetArgs) {
    const target = spawnNode('./redis-target.ts', argv);
    const { port } = await next<{ port: number }>(target, 'ready', 30_000);
    const loader = spawnNode('./redis-load.ts');
    const connected = next(loader, 'connected');
    loader.send({ type: 'start', port, count: N, sample: SAMPLE });
    await connected;
    targets.push(target);
    loaders.push(loader);
  }
  for (const target of targets) {
    for (let i = 0; i < 100; i++) {
      const stats = next<{ connections: number }>(target, 'stats');
      target.send({ type: 'stats' });
      if ((await stats).connections >= N) break;
      await sleep(100);
    }
  }
  return { name, targets, loaders };
}

async function cpu(target: ChildProcess): Promise<number> {
  const reply = next<{ ms: number }>(target, 'cpu');
  target.send({ type: 'cpu' });
  return (await reply).ms;
}

async function publishRound(s: Setup, count: number, window: number, paceMs: number) {
  const done = s.loaders.map((l) => next<{ at: number }>(l, 'done'));
  for (const l of s.loaders) l.send({ type: 'expect', more: count });
  const before = await Promise.all(s.targets.map(cpu));
  const started = performance.timeOrigin + performance.now();
  const published = next(s.targets[0]!, 'published');
  s.targets[0]!.send({ type: 'publish', count, window, paceMs });
  await published;
  const ends = await Promise.all(done);
  const after = await Promise.all(s.targets.map(cpu));
  const wallMs = Math.max(...ends.map((e) => e.at)) - started;
  return { wallMs, cpuMs: after.map((a, i) => a - before[i]!) };
}

async function measure(s: Setup) {
  // Warm-up: JIT, Redis script cache, socket buffers.
  await publishRound(s, Math.min(200, E), WINDOW, 0);
  const perInstance: number[] = [];
  const wall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = await publishRound(s, E, WINDOW, 0);
    perInstance.push(Math.min(...r.cpuMs.map((ms) => (N * E) / (ms / 1000))));
    wall.push((s.targets.length * N * E) / (r.wallMs / 1000));
    console.error(
      `  ${s.name} round ${round + 1}: wall ${r.wallMs.toFixed(0)} ms, cpu ${r.cpuMs.map((c) => c.toFixed(0)).join(' / ')} ms`,
    );
  }
  await publishRound(s, L, 1, PACE);
  const reports = await Promise.all(
    s.loaders.map((l) => {
      const reply = next<{ latencies: number[] }>(l, 'report');
      l.send({ type: 'report' });
      return reply;
    }),
  );
  const latencies = reports.flatMap((r) => r.latencies);
  for (const child of [...s.loaders, ...s.targets]) child.kill();
  await sleep(300);
  return {
    perInstance: median(perInstance),
    wall: median(wall),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    samples: latencies.length,
  };
}

console.log('bench:redis: fan-out through Redis across 2 instances, beside the memory store');
console.log(
  `method: see the top of bench/redis.ts. ${N} readers per instance, ${E} events per round, ${ROUNDS} rounds, window ${WINDOW}; latency: ${L} events ${PACE} ms apart, ${SAMPLE} sampled readers per instance; node ${process.version}`,
);
const redis = await startRedis();
let memory: Awaited<ReturnType<typeof measure>>;
let viaRedis: Awaited<ReturnType<typeof measure>>;
try {
  memory = await measure(await setUp('memory', [['memory']]));
  const prefix = `bench${process.pid}:`;
  viaRedis = await measure(
    await setUp('redis', [
      ['redis', redis.url, prefix],
      ['redis', redis.url, prefix],
    ]),
  );
} finally {
  await redis.close();
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
printTable(
  [
    'store',
    'instances',
    'per-instance deliveries/CPU-s',
    'deliveries/s (wall)',
    'p50 ms',
    'p99 ms',
  ],
  [
    [
      'memory',
      '1',
      fmt(memory.perInstance),
      fmt(memory.wall),
      fmt(memory.p50, 2),
      fmt(memory.p99, 2),
    ],
    [
      'redis',
      '2',
      fmt(viaRedis.perInstance),
      fmt(viaRedis.wall),
      fmt(viaRedis.p50, 2),
      fmt(viaRedis.p99, 2),
    ],
  ],
);
const ratio = viaRedis.perInstance / memory.perInstance;
console.log(
  `per-instance throughput on Redis: ${(ratio * 100).toFixed(0)} % of the memory store's (goal >= 70 %: ${ratio >= 0.7 ? 'met' : 'missed'})`,
);
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
result({
  bench: 'redis',
  deliveries_per_s: Math.round(viaRedis.wall),
  ratio_vs_memory: round(ratio),
  p99_ms: round(viaRedis.p99),
  per_instance_deliveries_per_cpu_s: Math.round(viaRedis.perInstance),
  memory_per_instance_deliveries_per_cpu_s: Math.round(memory.perInstance),
  memory_deliveries_per_s: Math.round(memory.wall),
  p50_ms: round(viaRedis.p50),
  memory_p99_ms: round(memory.p99),
});
