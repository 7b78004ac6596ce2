/**
 * bench:survival: does a long job reach its user through real-world paths? (issue 5, seed 001)
 *
 * Method: an outlast server (node:http + ws) runs JOBS jobs at once per path and client.
 * Each job lasts about 180 s of path time: an `accepted` event, 110 s of silence (an OCR
 * pass, an LLM thinking), 35 progress events 2 s apart, then its result; every event carries
 * its send time. The chaos proxy (outlast/proxy) reproduces the path from its presets. Every
 * duration of the path (the proxy's clocks, the job's timeline, the server's heartbeat and
 * retry hint, the client's backoff) is multiplied by SCALE, so 180 s take 180 x SCALE s; the
 * client's open timeout (a guard against dead connections, not a path clock) is not scaled
 * below 5 s. The servers and the proxy run in a child process, the clients in this one.
 * Three clients:
 *   - `eventsource`: the `eventsource` npm package (WHATWG EventSource: Last-Event-ID, retry:,
 *     stops on a non-200) against a server without heartbeats (60 s, never within a job);
 *   - `heartbeats`: the same client against a server heartbeating every 15 s (path time);
 *   - `outlast`: `connect()` from outlast/client against that same server, each connection
 *     with its own empty path profile (a cold start: nothing learned before).
 * The job is started with a POST, then the client reads `{base}/jobs/{id}/events`. A job is
 * completed when its client got the final result before DEADLINE x the job's length.
 * Lost: progress events published but never received (jobs that did not complete count
 * theirs too); duplicates: events received twice; reconnects: for EventSource, connections
 * opened beyond the first; for outlast, connections lost (rotations included); overhead: the
 * final result received minus the job's return (its result carries the time, same clock),
 * mean over completed jobs, in path seconds (divided by SCALE); delay: publish to receipt,
 * mean over received events, path seconds. Measured on a 2-core machine shared with other
 * work: the load at the time shows in the delays.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { connect, memoryProfileStore, type WebSocketLike } from '../src/client/index.js';
import { type ChaosProxy, createProxy } from '../src/proxy/index.js';
import { attachWebSocket, createOutlast, type Outlast } from '../src/server/index.js';
import { printTable, result } from './util.js';

const SCALE = Number(process.env.SCALE ?? 0.05);
const JOBS = Number(process.env.JOBS ?? 100);
const DEADLINE = Number(process.env.DEADLINE ?? 2);
const PATHS = (
  process.env.PATHS ??
  'cloudflare;aws-alb;cloudflare,aws-alb;aws-service-connect;cloudflare,aws-alb,aws-service-connect;nginx-gzip;heroku;gcp-lb;corporate-av'
).split(';');
const CLIENTS = ['eventsource', 'heartbeats', 'outlast'] as const;
type ClientKind = (typeof CLIENTS)[number];

const THINK_MS = 110_000;
const STEPS = 35;
const STEP_MS = 2_000;
const JOB_MS = THINK_MS + STEPS * STEP_MS;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Server {
  outlast: Outlast;
  origin: string;
  close(): Promise<void>;
}

async function startServer(heartbeatMs: number): Promise<Server> {
  const outlast = createOutlast({
    heartbeatMs,
    minHeartbeatMs: 10,
    minMaxStreamMs: 10,
    heartbeatTickMs: 5,
    retryMs: Math.round(1_000 * SCALE),
    onError: () => {},
    jobs: {
      work: async (ctx: { progress(d: unknown, e?: string): Promise<void> }) => {
        await ctx.progress({ i: 0, t: Date.now() }, 'accepted');
        await sleep(THINK_MS * SCALE);
        for (let i = 1; i <= STEPS; i++) {
          await ctx.progress({ i, t: Date.now() });
          if (i < STEPS) await sleep(STEP_MS * SCALE);
        }
        return { ok: true, t: Date.now() };
      },
    },
  });
  const http = createServer(outlast.handleNode);
  attachWebSocket(outlast, http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    outlast,
    origin: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      await outlast.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

interface JobRun {
  completed: boolean;
  received: number[];
  duplicates: number;
  connections: number;
  overheadMs: number | null;
  delays: number[];
}

async function startJob(base: string): Promise<{ stream: string }> {
  for (let tries = 0; ; tries++) {
    try {
      const res = await fetch(`${base}/jobs/work`, { method: 'POST', body: '{}' });
      if (res.status === 202) {
        const j = (await res.json()) as { stream: string };
        return { stream: new URL(j.stream, base).href };
      }
      await res.body?.cancel();
    } catch {
      // A cut POST: try again (the plain clients' harness, not what is measured).
    }
    if (tries > 50) throw new Error('could not start a job');
    await sleep(2_500 * SCALE);
  }
}

function runEventSource(base: string): Promise<JobRun> {
  return startJob(base).then(
    ({ stream }) =>
      new Promise<JobRun>((resolve) => {
        const run: JobRun = {
          completed: false,
          received: [],
          duplicates: 0,
          connections: 0,
          overheadMs: null,
          delays: [],
        };
        const seen = new Set<string>();
        const es = new EventSource(stream);
        const finish = () => {
          clearTimeout(timer);
          es.close();
          resolve(run);
        };
        const timer = setTimeout(finish, JOB_MS * SCALE * DEADLINE);
        es.addEventListener('open', () => run.connections++);
        const onProgress = (e: MessageEvent) => {
          if (seen.has(e.lastEventId)) {
            run.duplicates++;
            return;
          }
          seen.add(e.lastEventId);
          const d = JSON.parse(e.data) as { i: number; t: number };
          run.received.push(d.i);
          run.delays.push(Date.now() - d.t);
        };
        es.addEventListener('accepted', onProgress);
        es.addEventListener('progress', onProgress);
        es.addEventListener('outlast.result', (e: MessageEvent) => {
          run.completed = true;
          const end = (JSON.parse(e.data) as { result: { t: number } }).result.t;
          run.overheadMs = Math.max(0, Date.now() - end);
          finish();
        });
        es.addEventListener('error', () => {
          // [spec] CLOSED after an error: a non-200 (504 before headers) stopped it for good.
          if (es.readyState === 2) finish();
        });
      }),
  );
}

async function runOutlast(base: string): Promise<JobRun> {
  const run: JobRun = {
    completed: false,
    received: [],
    duplicates: 0,
    connections: 0,
    overheadMs: null,
    delays: [],
  };
  const conn = connect(`${base}/jobs/work`, {
    body: {},
    WebSocket: WebSocket as unknown as WebSocketLike,
    profile: memoryProfileStore(),
    initialDelayMs: 500 * SCALE,
    maxDelayMs: 30_000 * SCALE,
    healthyAfterMs: 10_000 * SCALE,
    // Guards against dead connections, not path clocks: the machine's own latency does not
    // shrink with the time scale.
    openTimeoutMs: Math.max(30_000 * SCALE, 5_000),
    reports: false,
  });
  // Connections lost (rotations included) plus the first one: a stream held back by a hop
  // never opens, yet the client did leave it.
  run.connections = 1;
  conn.on('cut', (c) => {
    if (c.cause !== 'client-abort') run.connections++;
  });
  const trace: string[] = [];
  const t0 = Date.now();
  if (process.env.DEBUG) {
    conn.on('cut', (c) =>
      trace.push(
        `${Date.now() - t0} cut ${c.cause} ${Math.round(c.sinceRequestMs)} ${c.transport}`,
      ),
    );
    conn.on('learn', (l) => trace.push(`${Date.now() - t0} ${l.note}`));
    conn.on('reconnecting', (r) => trace.push(`${Date.now() - t0} wait ${Math.round(r.delayMs)}`));
  }
  const timer = setTimeout(() => conn.close(), JOB_MS * SCALE * DEADLINE);
  const seen = new Set<string>();
  try {
    for await (const e of conn) {
      if (e.id !== null && seen.has(e.id)) run.duplicates++;
      if (e.id !== null) seen.add(e.id);
      const d = JSON.parse(e.data) as { i: number; t: number };
      run.received.push(d.i);
      run.delays.push(Date.now() - d.t);
    }
    const end = ((await conn.result) as { t: number }).t;
    run.completed = true;
    run.overheadMs = Math.max(0, Date.now() - end);
    if (process.env.DEBUG && run.overheadMs > 200)
      console.log(`${trace.join('\n')}\nend ${end - t0}`);
  } catch {
    // Not completed: counted below.
  } finally {
    clearTimeout(timer);
  }
  return run;
}

interface Row {
  completed: number;
  lost: number;
  duplicates: number;
  reconnects: number;
  overheadS: number;
  delayS: number;
}

async function runPath(path: string, kind: ClientKind, host: PathHost): Promise<Row> {
  const base = await host.open(path, kind === 'eventsource' ? 'quiet' : 'beating');
  try {
    const runs = await Promise.all(
      Array.from({ length: JOBS }, async (_, k) => {
        await sleep((k % 20) * 5); // not all in the same millisecond
        return kind === 'outlast' ? runOutlast(base) : runEventSource(base);
      }),
    );
    const done = runs.filter((r) => r.completed);
    if (process.env.DEBUG) {
      console.log(
        kind,
        runs.map((r) => `${r.connections}:${Math.round(r.overheadMs ?? -1)}`).join(' '),
      );
    }
    const expected = STEPS + 1;
    const mean = (xs: number[]) =>
      xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      completed: done.length,
      lost: runs.reduce((n, r) => n + (expected - new Set(r.received).size), 0),
      duplicates: runs.reduce((n, r) => n + r.duplicates, 0),
      reconnects: mean(runs.map((r) => Math.max(0, r.connections - 1))),
      overheadS: mean(done.map((r) => r.overheadMs ?? 0)) / SCALE / 1000,
      delayS: mean(runs.flatMap((r) => r.delays)) / SCALE / 1000,
    };
  } finally {
    await host.closePath();
  }
}

/** The servers and the proxy of the path, in a child process: the path and the clients each
 * get a core of their own, as they would on separate machines. */
interface PathHost {
  open(path: string, server: 'quiet' | 'beating'): Promise<string>;
  closePath(): Promise<void>;
  stop(): void;
}

async function startPathHost(): Promise<PathHost> {
  const child = fork(fileURLToPath(import.meta.url), ['--path-host'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = (message: Record<string, unknown>) =>
    new Promise<{ base?: string }>((resolve) => {
      child.once('message', (m) => resolve(m as { base?: string }));
      child.send(message);
    });
  await ask({ type: 'ready' });
  return {
    open: async (path, server) => (await ask({ type: 'open', path, server })).base!,
    closePath: async () => void (await ask({ type: 'close' })),
    stop: () => child.kill(),
  };
}

/** The child's side: two servers, one proxy at a time. */
async function servePaths(): Promise<void> {
  const servers = {
    quiet: await startServer(60_000),
    beating: await startServer(Math.round(15_000 * SCALE)),
  };
  let proxy: ChaosProxy | null = null;
  process.on(
    'message',
    async (m: { type: string; path?: string; server?: 'quiet' | 'beating' }) => {
      if (m.type === 'ready') process.send!({});
      else if (m.type === 'open') {
        proxy = await createProxy({
          target: servers[m.server!].origin,
          preset: m.path!,
          timeScale: SCALE,
        });
        process.send!({ base: `${proxy.url}/outlast` });
      } else if (m.type === 'close') {
        await proxy?.close();
        proxy = null;
        process.send!({});
      }
    },
  );
}

async function main(): Promise<void> {
  const host = await startPathHost();
  console.log('# bench:survival\n');
  console.log(
    `Method: see the top of bench/survival.ts. ${JOBS} jobs of ~${JOB_MS / 1000} s path time per path and client, time scale ${SCALE} (a job takes ${((JOB_MS * SCALE) / 1000).toFixed(1)} s), deadline ${DEADLINE}x. Overhead and delay in path seconds.\n`,
  );
  const paths: Record<string, Record<ClientKind, Row>> = {};
  for (const path of PATHS) {
    const rows = {} as Record<ClientKind, Row>;
    for (const kind of CLIENTS) {
      rows[kind] = await runPath(path, kind, host);
    }
    paths[path] = rows;
    console.log(`## ${path}\n`);
    console.log(
      '| client | jobs completed | events lost | duplicates | mean reconnects | time overhead (s) | mean event delay (s) |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const kind of CLIENTS) {
      const r = rows[kind];
      console.log(
        `| ${kind} | ${r.completed}/${JOBS} | ${r.lost} | ${r.duplicates} | ${r.reconnects.toFixed(1)} | ${r.overheadS.toFixed(1)} | ${r.delayS.toFixed(1)} |`,
      );
    }
    console.log('');
  }
  host.stop();
  const outlastRows = Object.values(paths).map((p) => p.outlast);
  printTable(
    ['path', 'eventsource', 'heartbeats', 'outlast'],
    Object.entries(paths).map(([p, r]) => [p, ...CLIENTS.map((k) => `${r[k].completed}/${JOBS}`)]),
  );
  result({
    bench: 'survival',
    scale: SCALE,
    jobs: JOBS,
    outlast_min_completion: Math.min(...outlastRows.map((r) => r.completed / JOBS)),
    outlast_events_lost: outlastRows.reduce((n, r) => n + r.lost, 0),
    outlast_duplicates: outlastRows.reduce((n, r) => n + r.duplicates, 0),
    paths: Object.fromEntries(
      Object.entries(paths).map(([p, r]) => [
        p,
        Object.fromEntries(
          CLIENTS.map((k) => [
            k,
            {
              completion: r[k].completed / JOBS,
              lost: r[k].lost,
              duplicates: r[k].duplicates,
              reconnects: Number(r[k].reconnects.toFixed(2)),
              overhead_s: Number(r[k].overheadS.toFixed(2)),
            },
          ]),
        ),
      ]),
    ),
  });
}

if (process.argv[2] === '--path-host') await servePaths();
else await main();
