/**
 * bench:server: what holding SSE connections and fanning one event out costs outlast/server,
 * against better-sse and a bare node:http SSE handler, in the same run on the same machine.
 *
 * Method:
 * - Each server under test runs alone in its own process (bench/server-target.ts), started
 *   with --expose-gc; the load generators are separate processes (bench/server-load.ts) on raw
 *   `net` sockets, each bound to its own loopback source address (127.0.0.2, .3, ...) so that
 *   ephemeral ports never run out, at most ~15 000 sockets each (one process may hold 20 000
 *   files here, `ulimit -Hn`, which cannot be raised).
 * - Connections: N clients GET one SSE stream (outlast: `{base}/streams/bench`; better-sse: a
 *   session registered in one channel; bare: a Set of responses). All three heartbeat every
 *   H ms (outlast: its shared timer wheel; better-sse: its per-session keep-alive timer; bare:
 *   one interval over the Set). Memory per connection = (RSS after N connections - RSS before
 *   any), both after two forced GCs, divided by N; same for V8 heap. Then a window of `hold`
 *   ms: event-loop delay (perf_hooks histogram, 5 ms resolution, p99 and max) and CPU time
 *   (user + system) of the server process; CPU per heartbeat round = CPU / (hold / H).
 * - Fan-out: R rounds; in each the server stamps `t=<now>` into one event and publishes it to
 *   all N subscribers; every client records receipt - t (same machine clock, sub-ms).
 *   Server deliveries/s = N / (time from the publish call until the server's event loop is
 *   free again: the writes, plus the socket flushes Node defers to process.nextTick, timed to
 *   the next setImmediate). That is the server's capacity and what fanout_deliveries_per_s
 *   reports. End-to-end deliveries/s = N / slowest receipt: on this 2-core machine it is bound
 *   by the load generators parsing N sockets, so it is alike for every server; it is shown
 *   beside it. A round ends when every client has the event; medians over rounds; p50/p99
 *   latency over every delivery of every round (fanout_p99_ms is that end-to-end p99).
 * - The CPU window includes the two forced GCs of the measurement that closes it, for every
 *   server alike.
 * - CPU and event-loop delay are read before the forced GCs that serve the memory figures.
 * - `--workers W` runs outlast and bare under node:cluster, W workers sharing the port (RSS
 *   summed over workers; the primary only relays). `max_connections_held` is the largest
 *   number of connections held at once by outlast, all workers counted.
 *
 * Usage: npm run bench:server [-- --connections 10000 --workers 0 --heartbeat 2000
 *        --hold 10000 --rounds 20 --impls outlast,better-sse,bare]
 * The 100 000-connection run: npm run bench:server -- --workers 6 --connections 100000
 */
import { type ChildProcess, fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { TargetStats } from './server-target.js';
import { median, printTable, quantile, result } from './util.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '0' },
    heartbeat: { type: 'string', default: '2000' },
    hold: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '20' },
    impls: { type: 'string' },
  },
});
const N = Number(args.connections);
const W = Number(args.workers);
const H = Number(args.heartbeat);
const HOLD = Number(args.hold);
const ROUNDS = Number(args.rounds);
const impls = (args.impls ?? (W > 0 ? 'outlast,bare' : 'outlast,better-sse,bare')).split(',');
const PER_LOADER = 15_000;
const loaderCount = Math.max(2, Math.ceil(N / PER_LOADER));
const here = new URL('.', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnTs(file: string, argv: string[], gc = false): ChildProcess {
  return fork(`${here}${file}`, argv, {
    execArgv: [...(gc ? ['--expose-gc'] : []), '--max-old-space-size=4096', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function next<T>(
  child: ChildProcess,
  type: string,
  timeoutMs = 120_000,
  match: (m: Record<string, unknown>) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${type} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const on = (m: { type: string }) => {
      if (m.type !== type || !match(m as Record<string, unknown>)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

let statsId = 0;
async function stats(target: ChildProcess): Promise<TargetStats> {
  const id = ++statsId;
  const reply = new Promise<TargetStats>((resolve) => {
    const on = (m: { type: string; id?: number; stats?: TargetStats }) => {
      if (m.type === 'stats' && m.id === id) {
        target.off('message', on);
        resolve(m.stats!);
      }
    };
    target.on('message', on);
  });
  target.send({ type: 'stats', id });
  return reply;
}

interface Row {
  impl: string;
  held: number;
  rssKb: number;
  heapKb: number;
  eldP99: number;
  eldMax: number;
  cpuPerRound: number;
  deliveriesPerS: number;
  endToEndPerS: number;
  p50: number;
  p99: number;
}

async function run(impl: string): Promise<Row> {
  const target = spawnTs('server-target.ts', [impl, String(H), String(W)], true);
  const { port } = await next<{ port: number }>(target, 'ready');
  await sleep(500);
  const before = await stats(target);
  const loaders = Array.from({ length: loaderCount }, () => spawnTs('server-load.ts', []));
  const path = impl === 'outlast' ? '/outlast/streams/bench?lastEventId=' : '/';
  const share = Math.ceil(N / loaderCount);
  const started = Date.now();
  const connected = loaders.map((l) =>
    next<{ count: number; failed: number }>(l, 'connected', 600_000),
  );
  for (const [i, l] of loaders.entries()) {
    l.send({
      type: 'start',
      port,
      path,
      count: Math.min(share, N - share * i),
      localAddress: `127.0.0.${2 + i}`,
    });
  }
  const opened = await Promise.all(connected);
  const failed = opened.reduce((a, o) => a + o.failed, 0);
  let held = 0;
  for (let i = 0; i < 100; i++) {
    held = (await stats(target)).connections;
    if (held >= N - failed) break;
    await sleep(100);
  }
  console.error(`  ${impl}: ${held} connections in ${Date.now() - started} ms (${failed} failed)`);
  await sleep(1000);
  const loaded = await stats(target);
  target.send({ type: 'window' });
  await sleep(HOLD);
  const window = await stats(target);

  // Fan-out rounds.
  const perRound: number[] = [];
  const serverRates: number[] = [];
  const receivers = opened.filter((o) => o.count > 0).length;
  for (let round = 0; round < ROUNDS; round++) {
    const done = loaders
      .filter((_, i) => opened[i]!.count > 0)
      .map((l) =>
        next<{ round: number; maxLatencyMs: number }>(
          l,
          'round-done',
          20_000,
          (m) => m.round === round,
        ).catch(() => null),
      );
    const published = new Promise<number>((resolve) => {
      // With W workers each publishes to its share; the slowest worker bounds the rate.
      let seen = 0;
      let slowest = 0;
      const on = (m: { type: string; round?: number; ms?: number }) => {
        if (m.type !== 'published' || m.round !== round) return;
        slowest = Math.max(slowest, m.ms!);
        if (++seen === Math.max(1, W)) {
          target.off('message', on);
          resolve(slowest);
        }
      };
      target.on('message', on);
      // Never wait for ever: a lost reply fails the round instead of hanging the run.
      setTimeout(() => resolve(Number.NaN), 20_000).unref();
    });
    target.send({ type: 'publish', round });
    const results = await Promise.all(done);
    const publishMs = await published;
    if (Number.isFinite(publishMs)) serverRates.push((held / publishMs) * 1000);
    const slowest = Math.max(...results.map((r) => r?.maxLatencyMs ?? Number.NaN));
    if (results.length === receivers) perRound.push((held / slowest) * 1000);
    await sleep(30);
  }
  const reports = await Promise.all(
    loaders.map((l) => {
      const r = next<{ latencies: number[]; alive: number }>(l, 'report');
      l.send({ type: 'report' });
      return r;
    }),
  );
  const latencies = reports.flatMap((r) => r.latencies);
  for (const l of loaders) l.kill();
  target.kill();
  await sleep(500);
  return {
    impl,
    held,
    rssKb: (loaded.rss - before.rss) / held / 1024,
    heapKb: (loaded.heapUsed - before.heapUsed) / held / 1024,
    eldP99: window.eldP99Ms,
    eldMax: window.eldMaxMs,
    cpuPerRound: window.cpuMs / (HOLD / H),
    deliveriesPerS: median(serverRates),
    endToEndPerS: median(perRound.filter((x) => Number.isFinite(x))),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
  };
}

console.log('bench:server: connections held with heartbeats, and fan-out of one event');
console.log(
  `method: see the top of bench/server.ts. N=${N} connections, ${W > 0 ? `${W} cluster workers` : 'one server process'}, heartbeat ${H} ms, window ${HOLD} ms, ${ROUNDS} fan-out rounds, ${loaderCount} load processes; node ${process.version}`,
);
const rows: Row[] = [];
for (const impl of impls) rows.push(await run(impl));
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
printTable(
  [
    'server',
    'held',
    'RSS KB/conn',
    'heap KB/conn',
    'ELD p99 ms',
    'ELD max ms',
    'CPU ms/hb round',
    'server deliveries/s',
    'end-to-end deliveries/s',
    'p50 ms',
    'p99 ms',
  ],
  rows.map((r) => [
    r.impl,
    String(r.held),
    f(r.rssKb),
    f(r.heapKb),
    f(r.eldP99, 1),
    f(r.eldMax, 1),
    f(r.cpuPerRound, 1),
    f(r.deliveriesPerS, 0),
    f(r.endToEndPerS, 0),
    f(r.p50, 1),
    f(r.p99, 1),
  ]),
);
const ours = rows.find((r) => r.impl === 'outlast');
const bare = rows.find((r) => r.impl === 'bare');
const peer = rows.find((r) => r.impl === 'better-sse');
const round = (x: number | undefined, d = 2) =>
  x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(d));
result({
  bench: 'server',
  mem_per_conn_kb: round(ours?.rssKb),
  mem_ratio_vs_bare: round(ours && bare ? ours.rssKb / bare.rssKb : undefined),
  fanout_deliveries_per_s: round(ours?.deliveriesPerS, 0),
  fanout_ratio_vs_better_sse: round(
    ours && peer ? ours.deliveriesPerS / peer.deliveriesPerS : undefined,
  ),
  fanout_p99_ms: round(ours?.p99),
  max_connections_held: ours?.held ?? null,
});
process.exit(0);
