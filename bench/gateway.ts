/**
 * bench:gateway: what the gateway adds between an SSE upstream and its readers.
 *
 * Method (three processes: the upstream, the gateway, this driver with the readers):
 * 1. Latency. `--concurrent` readers (default 1 000) read the upstream's stream directly, then
 *    the same number read it through the gateway (each one an upstream run of its own). The
 *    upstream writes each stream one event per `--period` ms (default 200), the streams
 *    staggered evenly, each event carrying its write time (performance.timeOrigin + now(),
 *    one clock for every process of the machine). A reader records arrival minus write time.
 *    Added latency = the gateway's p50 (p99) minus the direct p50 (p99), same run, same load.
 * 2. Memory and runs held. `--held` runs (default 10 000) are started through the gateway as
 *    jobs (`Prefer: respond-async`, no reader kept), each holding its upstream stream open;
 *    memory per run = (gateway RSS after gc with the runs - before) / runs.
 * Goal: p50 added <= 1 ms at 1 000 concurrent runs; 10 000 runs held in one process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Agent, type ClientRequest, request } from 'node:http';
import { parseArgs } from 'node:util';
import { printTable, quantile, result } from './util.js';

const { values: args } = parseArgs({
  options: {
    concurrent: { type: 'string', default: '1000' },
    held: { type: 'string', default: '10000' },
    period: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '5' },
  },
});
const C = Number(args.concurrent);
const HELD = Number(args.held);
const PERIOD = Number(args.period);
const SECONDS = Number(args.seconds);
const here = new URL('.', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

function spawnTs(argv: string[]): ChildProcess {
  return fork(`${here}gateway-target.ts`, argv, {
    execArgv: ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function next<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

let statsId = 0;
interface Stats {
  rss: number;
  heapUsed: number;
  connections?: number;
  runs?: number;
}
function stats(child: ChildProcess): Promise<Stats> {
  const id = ++statsId;
  const reply = new Promise<Stats>((resolve) => {
    const on = (m: { type: string; id?: number; stats?: Stats }) => {
      if (m.type === 'stats' && m.id === id) {
        child.off('message', on);
        resolve(m.stats!);
      }
    };
    child.on('message', on);
  });
  child.send({ type: 'stats', id });
  return reply;
}

async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

/** Opens `n` SSE readers; each records arrival - write time of every timestamped event. */
function readers(
  url: string,
  n: number,
  samples: number[],
  recording: { on: boolean },
): ClientRequest[] {
  const out: ClientRequest[] = [];
  for (let i = 0; i < n; i++) {
    const req = request(url, { agent, headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        const at = now();
        buf += chunk;
        let k = buf.indexOf('{"t":');
        while (k !== -1) {
          const end = buf.indexOf('}', k);
          if (end === -1) break;
          if (recording.on) samples.push(at - Number(buf.slice(k + 5, end)));
          k = buf.indexOf('{"t":', end);
        }
        const cut = buf.lastIndexOf('\n');
        if (cut !== -1) buf = buf.slice(cut + 1);
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.end();
    out.push(req);
  }
  return out;
}

async function measure(name: string, url: string, upstream: ChildProcess): Promise<number[]> {
  const samples: number[] = [];
  const recording = { on: false };
  const open = readers(url, C, samples, recording);
  await until(`${C} ${name} streams`, async () => (await stats(upstream)).connections! >= C);
  upstream.send({ type: 'send', on: true });
  await sleep(1000); // warm-up
  recording.on = true;
  await sleep(SECONDS * 1000);
  recording.on = false;
  upstream.send({ type: 'send', on: false });
  for (const r of open) r.destroy();
  upstream.send({ type: 'end-all' });
  await until('streams closed', async () => (await stats(upstream)).connections === 0);
  return samples;
}

console.log(
  `bench:gateway: ${C} concurrent runs, one event per ${PERIOD} ms per run (staggered), ${SECONDS} s measured per path; ${HELD} runs held. Node ${process.version}.`,
);
const upstream = spawnTs(['upstream', String(PERIOD)]);
const { port: upPort } = await next<{ port: number }>(upstream, 'ready');
const upstreamUrl = `http://127.0.0.1:${upPort}`;
const gateway = spawnTs(['gateway', upstreamUrl]);
const { port: gwPort } = await next<{ port: number }>(gateway, 'ready');
const gatewayUrl = `http://127.0.0.1:${gwPort}`;

try {
  const direct = await measure('direct', `${upstreamUrl}/sse`, upstream);
  const through = await measure('gateway', `${gatewayUrl}/sse`, upstream);
  await until('runs ended', async () => (await stats(gateway)).runs === 0);

  const before = await stats(gateway);
  const started = Date.now();
  let failed = 0;
  for (let i = 0; i < HELD; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, HELD - i) }, async () => {
        const r = await fetch(`${gatewayUrl}/sse`, { headers: { prefer: 'respond-async' } }).catch(
          () => null,
        );
        if (r?.status !== 202) failed++;
        await r?.body?.cancel();
      }),
    );
  }
  await until(
    `${HELD} upstream streams`,
    async () => (await stats(upstream)).connections! >= HELD - failed,
  );
  const held = await stats(gateway);
  const startSeconds = (Date.now() - started) / 1000;
  const runsHeld = held.runs ?? 0;
  const memPerRunKb = (held.rss - before.rss) / 1024 / Math.max(1, runsHeld);
  const heapPerRunKb = (held.heapUsed - before.heapUsed) / 1024 / Math.max(1, runsHeld);

  const row = (name: string, s: number[]) => [
    name,
    String(s.length),
    quantile(s, 0.5).toFixed(2),
    quantile(s, 0.99).toFixed(2),
  ];
  printTable(
    ['path', 'events', 'p50 ms', 'p99 ms'],
    [row('direct', direct), row('gateway', through)],
  );
  const p50Added = quantile(through, 0.5) - quantile(direct, 0.5);
  const p99Added = quantile(through, 0.99) - quantile(direct, 0.99);
  console.log(
    `added by the gateway: p50 ${p50Added.toFixed(2)} ms, p99 ${p99Added.toFixed(2)} ms (goal p50 <= 1 ms: ${p50Added <= 1 ? 'met' : 'missed'})`,
  );
  console.log(
    `runs held: ${runsHeld} of ${HELD} (${failed} refused), started in ${startSeconds.toFixed(1)} s; gateway RSS ${(before.rss / 1048576).toFixed(0)} -> ${(held.rss / 1048576).toFixed(0)} MB: ${memPerRunKb.toFixed(1)} KB per run (heap ${heapPerRunKb.toFixed(1)} KB) (goal 10 000 held: ${runsHeld >= 10_000 ? 'met' : 'missed'})`,
  );
  result({
    bench: 'gateway',
    p50_added_ms: Number(p50Added.toFixed(3)),
    p99_added_ms: Number(p99Added.toFixed(3)),
    mem_per_run_kb: Number(memPerRunKb.toFixed(1)),
    runs_held: runsHeld,
  });
} finally {
  upstream.send({ type: 'end-all' });
  gateway.send({ type: 'exit' });
  upstream.send({ type: 'exit' });
  agent.destroy();
}
