/**
 * bench:runtimes: the same SSE fan-out on Node, Bun, Deno and workerd, side by side.
 *
 * Method:
 * - Each runtime runs outlast alone in its own process, from the same source bundled by
 *   esbuild: Node (node:http + handleNode), Bun (`outlast/bun` on Bun.serve), Deno
 *   (`outlast/deno` on Deno.serve), all from bench/runtimes-target.ts; workerd (local, through
 *   miniflare) runs `outlast/workers` from bench/runtimes-worker.ts, the stream in its Durable
 *   Object. Heartbeats every 60 s (none fall in the run).
 * - Connections: N clients on raw `net` sockets (bench/server-load.ts, one Node process bound
 *   to 127.0.0.2) GET one SSE stream. Held = connections that got their response head.
 *   Memory per connection = (server process RSS after N connections - RSS before), from
 *   /proc/PID/status, divided by held (no forced GC: not every runtime offers one).
 * - Fan-out: R rounds; each publishes one event stamped `t=<now>;r=<round>` through a bench
 *   route of the server (workerd: of the Worker, which publishes through the object). A round
 *   ends when every client has the event. End-to-end deliveries/s = held / slowest receipt
 *   (publish to last delivery, one machine clock); on this 2-core machine the load generator
 *   parsing N sockets weighs on it alike for every runtime. Publish ms = the server's own time
 *   for the publish call, in which the store hands the event to every subscriber's transport.
 *   Medians over rounds; ratios are against Node.
 *
 * Usage: npm run bench:runtimes [-- --connections 1000 --rounds 10 --runtimes node,bun,deno,workerd]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Miniflare } from 'miniflare';
import { bundle, runtimeBinary, spawnWithPort } from '../test/runtimes/spawn.js';
import { median, printTable, result } from './util.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '10' },
    runtimes: { type: 'string', default: 'node,bun,deno,workerd' },
  },
});
const N = Number(args.connections);
const ROUNDS = Number(args.rounds);
const runtimes = args.runtimes.split(',') as Runtime[];
type Runtime = 'node' | 'bun' | 'deno' | 'workerd';

const here = new URL('.', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'outlast-bench-runtimes-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** The workerd process miniflare started (a child of this process). */
function workerdPid(): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = /\((.*)\)/.exec(stat)![1];
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'workerd' && ppid === process.pid) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error('no workerd process found');
}

interface Target {
  port: number;
  pid: number;
  publishUrl: string;
  stop(): Promise<void>;
}

async function startTarget(runtime: Runtime): Promise<Target> {
  if (runtime === 'workerd') {
    const script = await bundle('bench/runtimes-worker.ts', dir, 'browser', 'worker');
    const mf = new Miniflare({
      modules: true,
      scriptPath: script,
      modulesRoot: dir,
      compatibilityDate: '2025-01-01',
      durableObjects: { OUTLAST: 'OutlastObject' },
      host: '127.0.0.1',
      port: 0,
    });
    const url = await mf.ready;
    const port = Number(url.port);
    // The stream exists once published to.
    await fetch(`${url.origin}/bench/publish?data=start`, { method: 'POST' });
    return {
      port,
      pid: workerdPid(),
      publishUrl: `${url.origin}/bench/publish`,
      stop: () => mf.dispose(),
    };
  }
  const file = await bundle('bench/runtimes-target.ts', dir, 'neutral', runtime);
  const [command, argv] =
    runtime === 'node'
      ? [process.execPath, [file]]
      : runtime === 'bun'
        ? [runtimeBinary('bun'), ['run', file]]
        : [
            runtimeBinary('deno'),
            ['run', '--no-prompt', '--allow-net=127.0.0.1', '--no-config', '--no-lock', file],
          ];
  const { child, port } = await spawnWithPort(command, argv, {
    DENO_NO_UPDATE_CHECK: '1',
    DENO_DIR: dir,
    NO_COLOR: '1',
  });
  return {
    port,
    pid: child.pid!,
    publishUrl: `http://127.0.0.1:${port}/bench/publish`,
    stop: async () => {
      child.kill('SIGKILL');
    },
  };
}

function next<T>(child: ChildProcess, type: string, timeoutMs: number, round?: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`no ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: { type: string; round?: number }) => {
      if (m.type !== type || (round !== undefined && m.round !== round)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

interface Figures {
  held: number;
  failed: number;
  rounds_completed: number;
  deliveries_per_s: number;
  slowest_receipt_ms: number;
  publish_ms: number;
  kib_per_connection: number;
  rss_mib: number;
  error?: string;
}

async function run(runtime: Runtime): Promise<Figures> {
  const target = await startTarget(runtime);
  const loader = fork(`${here}server-load.ts`, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    await sleep(300);
    const before = rssOf(target.pid);
    const connected = next<{ count: number; failed: number }>(loader, 'connected', 120_000);
    loader.send({
      type: 'start',
      port: target.port,
      path: '/outlast/streams/fan?heartbeat=60000',
      count: N,
      localAddress: '127.0.0.2',
    });
    const { count: held, failed } = await connected;
    await sleep(500);
    const after = rssOf(target.pid);
    const rates: number[] = [];
    const slowest: number[] = [];
    const publishMs: number[] = [];
    let error: string | undefined;
    for (let round = 1; round <= ROUNDS && held > 0; round++) {
      const done = next<{ maxLatencyMs: number }>(loader, 'round-done', 30_000, round);
      const data = `t=${now()};r=${round}`;
      const res = await fetch(`${target.publishUrl}?data=${encodeURIComponent(data)}`, {
        method: 'POST',
      });
      publishMs.push(((await res.json()) as { publishMs: number }).publishMs);
      try {
        const { maxLatencyMs } = await done;
        slowest.push(maxLatencyMs);
        rates.push(held / (maxLatencyMs / 1000));
      } catch (e) {
        error = `round ${round}: ${(e as Error).message}`;
        break;
      }
      await sleep(100);
    }
    return {
      held,
      failed,
      rounds_completed: rates.length,
      deliveries_per_s: Math.round(median(rates)),
      slowest_receipt_ms: Number(median(slowest).toFixed(1)),
      publish_ms: Number(median(publishMs).toFixed(2)),
      kib_per_connection: Number(((after - before) / Math.max(1, held) / 1024).toFixed(2)),
      rss_mib: Number((after / 1024 / 1024).toFixed(1)),
      ...(error === undefined ? {} : { error }),
    };
  } finally {
    loader.send({ type: 'close' });
    await next(loader, 'closed', 10_000).catch(() => {});
    loader.kill();
    await target.stop();
  }
}

console.log('bench:runtimes: one SSE stream fanned out to N connections on each runtime');
console.log(
  `method: ${N} connections on raw sockets, ${ROUNDS} publish rounds; end-to-end deliveries/s = held / slowest receipt; memory from /proc RSS; medians over rounds; ratios against Node (see bench/runtimes.ts)`,
);
const figures: Partial<Record<Runtime, Figures>> = {};
for (const runtime of runtimes) {
  try {
    figures[runtime] = await run(runtime);
  } catch (error) {
    figures[runtime] = {
      held: 0,
      failed: N,
      rounds_completed: 0,
      deliveries_per_s: 0,
      slowest_receipt_ms: Number.NaN,
      publish_ms: Number.NaN,
      kib_per_connection: Number.NaN,
      rss_mib: Number.NaN,
      error: (error as Error).message,
    };
  }
  console.log(`${runtime}: ${JSON.stringify(figures[runtime])}`);
}
rmSync(dir, { recursive: true, force: true });

const node = figures.node;
const ratio = (value: number, base: number | undefined) =>
  base === undefined || !(base > 0) ? '-' : `${(value / base).toFixed(2)}x`;
printTable(
  ['runtime', 'held', 'deliveries/s', 'vs node', 'slowest ms', 'publish ms', 'KiB/conn', 'RSS MiB'],
  Object.entries(figures).map(([name, f]) => [
    name,
    String(f.held),
    String(f.deliveries_per_s),
    ratio(f.deliveries_per_s, node?.deliveries_per_s),
    String(f.slowest_receipt_ms),
    String(f.publish_ms),
    String(f.kib_per_connection),
    String(f.rss_mib),
  ]),
);
const failedRuntimes = Object.entries(figures).filter(
  ([, f]) => f.error !== undefined || f.held < N || f.rounds_completed < ROUNDS,
);
for (const [name, f] of failedRuntimes) {
  console.log(`${name} did not complete the scenario: ${f.error ?? `held ${f.held} of ${N}`}`);
}
result({ bench: 'runtimes', connections: N, rounds: ROUNDS, ...figures });
process.exitCode = failedRuntimes.length > 0 ? 1 : 0;
