/**
 * bench:survival: does a long job reach its user through real-world paths? (the published SSE timeout mitigation guide's table, done properly)
 *
 * Method: JOBS jobs at once per path and client. Each job lasts about 180 s of path time: on
 * the outlast server an `accepted` event first, then 110 s of silence (an OCR pass, an LLM
 * thinking), 35 progress events 2 s apart, then its result; every event carries its send
 * time. The chaos proxy (outlast/proxy) reproduces the path from its presets. Every duration
 * of the path (the proxy's clocks, the job's timeline, the servers' heartbeats and retry
 * hints, the client's backoff) is multiplied by SCALE, so 180 s take 180 x SCALE s; the outlast client's open timeout (a guard against dead
 * connections, not a path clock) is not scaled below 5 s. The servers and the proxies run in
 * a child process, the clients in this one. Five clients, two servers:
 *   - `plain`: the `eventsource` npm package against a plain SSE endpoint
 *     (bench/survival-plain-server.ts), what the published SSE timeout mitigation guide measured: each request runs its own job
 *     and streams it as produced, headers only with the first event (110 s in: a first-byte
 *     or idle clock fires before them), no ids, no resume, no heartbeats. A reconnect is a
 *     new job from the start: the user's job is completed only when its first request gets
 *     the result, and the client is followed until then or until that request ends;
 *   - `plain-heartbeats`: the same with a comment every 15 s from the start (headers at once);
 *   - `eventsource`: the same client against the outlast server (node:http + ws: headers at
 *     once, `accepted` event at once, ids, Last-Event-ID resume, retry:) without heartbeats
 *     (60 s, never within a job);
 *   - `heartbeats`: the same client against the outlast server heartbeating every 15 s;
 *   - `outlast`: `connect()` from outlast/client against that same server, each connection
 *     with its own empty path profile (a cold start: nothing learned before).
 * The two plain clients run side by side (each through its own proxy), the others one by one.
 * On the outlast server the job is started with a POST, then the client reads
 * `{base}/jobs/{id}/events`. A job is completed when its client got the final result before
 * DEADLINE x the job's length. Lost: progress events published but never received (jobs that
 * did not complete count theirs too; 36 per outlast job with `accepted`, 35 per plain job);
 * duplicates: events received twice; reconnects: for EventSource on the outlast server,
 * connections opened beyond the first; for the plain clients, 1 when EventSource went on to
 * reconnect (and start another job), 0 when it stopped for good or got the result; for
 * outlast, connections lost (rotations included); overhead: the final result received minus
 * the job's return (its result carries the time, same clock), mean over completed jobs, in
 * path seconds (divided by SCALE); delay: publish to receipt, mean over received events, path
 * seconds; lateness: arrival minus creation of every progress event, p50 and p99 over all
 * jobs of the path and client, in wall-clock ms at this time scale (what a user of a job that
 * short would see: the path's clocks and the backoff are scaled, the client's hold bound for
 * racing, 2 s, is not); `-` (null in RESULT) when there is nothing to average. The last path,
 * `hold-everything`, is not a preset: a hop that holds an event stream's response, its head
 * included, until it ends. Measured on a 2-core
 * machine shared with other work: the load at the time shows in the delays.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { connect, memoryProfileStore } from '../src/client/index.js';
import { type ChaosProxy, createProxy, type HopKnobs } from '../src/proxy/index.js';
import { attachWebSocket, createOutlast, type Outlast } from '../src/server/index.js';
import { startPlainServer } from './survival-plain-server.js';
import { printTable, quantile, result } from './util.js';

const SCALE = Number(process.env.SCALE ?? 0.05);
const JOBS = Number(process.env.JOBS ?? 100);
const DEADLINE = Number(process.env.DEADLINE ?? 2);
const PATHS = (
  process.env.PATHS ??
  'cloudflare;aws-alb;cloudflare,aws-alb;aws-service-connect;cloudflare,aws-alb,aws-service-connect;nginx-gzip;heroku;gcp-lb;corporate-av;hold-everything'
).split(';');
/**
 * Paths that are not presets: knobs of the chaos proxy. `hold-everything`: a hop that holds an
 * event stream's response, head included, until it ends (a buffering web server or scanning
 * proxy that also keeps the head back).
 */
const CUSTOM_PATHS: Record<string, Partial<HopKnobs>> = {
  'hold-everything': {
    holdWhole: true,
    headWaitsForBody: true,
    bufferTypes: ['text/event-stream'],
    fingerprint: null,
  },
};
const CLIENTS = ['plain', 'plain-heartbeats', 'eventsource', 'heartbeats', 'outlast'] as const;
type ClientKind = (typeof CLIENTS)[number];
const LABEL: Record<ClientKind, string> = {
  plain: 'plain SSE + EventSource',
  'plain-heartbeats': 'plain SSE + heartbeats',
  eventsource: 'outlast server + EventSource',
  heartbeats: 'outlast server + heartbeats',
  outlast: 'outlast server + outlast client',
};

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

/** A run that has received nothing yet. */
function newRun(): JobRun {
  return {
    completed: false,
    received: [],
    duplicates: 0,
    connections: 0,
    overheadMs: null,
    delays: [],
  };
}

async function startJob(base: string): Promise<{ stream: string }> {
  for (let tries = 0; ; tries++) {
    try {
      const res = await fetch(`${base}/jobs/work`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
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

/**
 * EventSource against the plain endpoint, followed until the user's job is decided: its
 * result, or the end of the first request without it. Past that point the job is lost
 * whatever follows, since EventSource's reconnect (unless a non-200 before headers closed it
 * for good) is a new request, hence another job from the start: counted as one reconnect,
 * not followed (a path that cut the first job cuts its reruns too, and following them would
 * only lengthen the bench).
 */
function runPlain(base: string): Promise<JobRun> {
  return new Promise<JobRun>((resolve) => {
    // The first request is this run's one connection.
    const run: JobRun = { ...newRun(), connections: 1 };
    const seen = new Set<number>();
    const es = new EventSource(`${base}/events`);
    const finish = () => {
      clearTimeout(timer);
      es.close();
      resolve(run);
    };
    const timer = setTimeout(finish, JOB_MS * SCALE * DEADLINE);
    es.addEventListener('progress', (e: MessageEvent) => {
      const d = JSON.parse(e.data) as { i: number; t: number };
      if (seen.has(d.i)) run.duplicates++;
      seen.add(d.i);
      run.received.push(d.i);
      run.delays.push(Date.now() - d.t);
    });
    es.addEventListener('result', (e: MessageEvent) => {
      run.completed = true;
      run.overheadMs = Math.max(0, Date.now() - (JSON.parse(e.data) as { t: number }).t);
      // Before the response's end, which would make EventSource start another job.
      finish();
    });
    es.addEventListener('error', () => {
      // [spec] CLOSED: a non-200 (the hop's 504/524/503 before headers); else it reconnects.
      if (es.readyState !== 2) run.connections = 2;
      finish();
    });
  });
}

function runEventSource(base: string): Promise<JobRun> {
  return startJob(base).then(
    ({ stream }) =>
      new Promise<JobRun>((resolve) => {
        const run = newRun();
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
  const run = newRun();
  const conn = connect(`${base}/jobs/work`, {
    body: {},
    WebSocket,
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
  /** Null: no job completed (no overhead to measure, which is not an overhead of 0). */
  overheadS: number | null;
  /** Null: no event received. */
  delayS: number | null;
  /** Lateness (arrival minus creation) of every progress event, wall-clock ms: p50, p99. */
  lateP50Ms: number | null;
  lateP99Ms: number | null;
}

const SERVER_OF: Record<ClientKind, ServerKind> = {
  plain: 'plain',
  'plain-heartbeats': 'plain-beating',
  eventsource: 'quiet',
  heartbeats: 'beating',
  outlast: 'beating',
};

async function runClient(base: string, kind: ClientKind): Promise<Row> {
  const plain = kind === 'plain' || kind === 'plain-heartbeats';
  const runs = await Promise.all(
    Array.from({ length: JOBS }, async (_, k) => {
      await sleep((k % 20) * 5); // not all in the same millisecond
      if (plain) return runPlain(base);
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
  // The outlast job's `accepted` event counts; a plain job has no such acknowledgement.
  const expected = plain ? STEPS : STEPS + 1;
  const mean = (xs: number[]) =>
    xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
  const seconds = (ms: number | null) => (ms === null ? null : ms / SCALE / 1000);
  return {
    completed: done.length,
    lost: runs.reduce((n, r) => n + (expected - new Set(r.received).size), 0),
    duplicates: runs.reduce((n, r) => n + r.duplicates, 0),
    reconnects: mean(runs.map((r) => Math.max(0, r.connections - 1))) ?? 0,
    overheadS: seconds(mean(done.map((r) => r.overheadMs ?? 0))),
    delayS: seconds(mean(runs.flatMap((r) => r.delays))),
    ...lateness(runs.flatMap((r) => r.delays)),
  };
}

function lateness(delays: number[]): { lateP50Ms: number | null; lateP99Ms: number | null } {
  if (delays.length === 0) return { lateP50Ms: null, lateP99Ms: null };
  return {
    lateP50Ms: Math.round(quantile(delays, 0.5)),
    lateP99Ms: Math.round(quantile(delays, 0.99)),
  };
}

/**
 * The clients that run at the same time through the path, each through its own proxy: the
 * two plain ones together (their servers hardly work, and it keeps the bench within about
 * six minutes); the three against the outlast server one by one, as before.
 */
const GROUPS: ClientKind[][] = [
  ['plain', 'plain-heartbeats'],
  ['eventsource'],
  ['heartbeats'],
  ['outlast'],
];

async function runGroup(path: string, kinds: ClientKind[], host: PathHost): Promise<Row[]> {
  try {
    const bases: string[] = [];
    for (const kind of kinds) bases.push(await host.open(path, SERVER_OF[kind]));
    return await Promise.all(kinds.map((kind, i) => runClient(bases[i]!, kind)));
  } finally {
    await host.closePath();
  }
}

/** The outlast server without or with heartbeats, the plain endpoint without or with them. */
type ServerKind = 'quiet' | 'beating' | 'plain' | 'plain-beating';

/** The servers and the proxies of the path, in a child process: the path and the clients each
 * get a core of their own, as they would on separate machines. */
interface PathHost {
  open(path: string, server: ServerKind): Promise<string>;
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

/** The child's side: four servers, one proxy per client running (closed together). */
async function servePaths(): Promise<void> {
  const heartbeatMs = Math.round(15_000 * SCALE);
  const job = { thinkMs: THINK_MS * SCALE, steps: STEPS, stepMs: STEP_MS * SCALE };
  const retryMs = Math.round(3_000 * SCALE);
  const servers: Record<ServerKind, { origin: string }> = {
    quiet: await startServer(60_000),
    beating: await startServer(heartbeatMs),
    plain: await startPlainServer({ job, heartbeatMs: null, retryMs }),
    'plain-beating': await startPlainServer({ job, heartbeatMs, retryMs }),
  };
  const proxies: ChaosProxy[] = [];
  process.on('message', async (m: { type: string; path?: string; server?: ServerKind }) => {
    if (m.type === 'ready') process.send!({});
    else if (m.type === 'open') {
      const custom = CUSTOM_PATHS[m.path!];
      const proxy = await createProxy({
        target: servers[m.server!].origin,
        ...(custom === undefined ? { preset: m.path! } : { knobs: custom }),
        timeScale: SCALE,
      });
      proxies.push(proxy);
      const plain = m.server === 'plain' || m.server === 'plain-beating';
      process.send!({ base: plain ? proxy.url : `${proxy.url}/outlast` });
    } else if (m.type === 'close') {
      await Promise.all(proxies.splice(0).map((p) => p.close()));
      process.send!({});
    }
  });
}

async function main(): Promise<void> {
  const host = await startPathHost();
  console.log('# bench:survival\n');
  console.log(
    `Method: see the top of bench/survival.ts. ${JOBS} jobs of ~${JOB_MS / 1000} s path time (${THINK_MS / 1000} s of silence, then ${STEPS} events ${STEP_MS / 1000} s apart, then the result) per path and client, time scale ${SCALE} (a job takes ${((JOB_MS * SCALE) / 1000).toFixed(1)} s), deadline ${DEADLINE}x. Clients: ${CLIENTS.map((k) => `\`${k}\` = ${LABEL[k]}`).join('; ')}. A plain job is completed only when its first request gets the result (a reconnect starts another job); its events lost are those of that first job never received (out of ${STEPS}; ${STEPS + 1} with the outlast server's \`accepted\`), and its reconnects 1 when EventSource went on to reconnect into another job. The two plain clients run side by side, the others one by one. Overhead and delay in path seconds (\`-\`: no job completed, no event received).\n`,
  );
  const paths: Record<string, Record<ClientKind, Row>> = {};
  for (const path of PATHS) {
    const rows = {} as Record<ClientKind, Row>;
    for (const kinds of GROUPS) {
      const got = await runGroup(path, kinds, host);
      kinds.forEach((kind, i) => {
        rows[kind] = got[i]!;
      });
    }
    paths[path] = rows;
    console.log(`## ${path}\n`);
    console.log(
      '| client | jobs completed | events lost | duplicates | mean reconnects | time overhead (s) | mean event delay (s) | lateness p50 / p99 (ms) |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const kind of CLIENTS) {
      const r = rows[kind];
      console.log(
        `| ${LABEL[kind]} | ${r.completed}/${JOBS} | ${r.lost} | ${r.duplicates} | ${r.reconnects.toFixed(1)} | ${r.overheadS?.toFixed(1) ?? '-'} | ${r.delayS?.toFixed(1) ?? '-'} | ${r.lateP50Ms ?? '-'} / ${r.lateP99Ms ?? '-'} |`,
      );
    }
    console.log('');
  }
  host.stop();
  const outlastRows = Object.values(paths).map((p) => p.outlast);
  printTable(
    ['path', ...CLIENTS],
    Object.entries(paths).map(([p, r]) => [p, ...CLIENTS.map((k) => `${r[k].completed}/${JOBS}`)]),
  );
  result({
    bench: 'survival',
    scale: SCALE,
    jobs: JOBS,
    outlast_min_completion: Math.min(...outlastRows.map((r) => r.completed / JOBS)),
    outlast_events_lost: outlastRows.reduce((n, r) => n + r.lost, 0),
    outlast_duplicates: outlastRows.reduce((n, r) => n + r.duplicates, 0),
    outlast_max_late_p50_ms: Math.max(...outlastRows.map((r) => r.lateP50Ms ?? Infinity)),
    outlast_max_late_p99_ms: Math.max(...outlastRows.map((r) => r.lateP99Ms ?? Infinity)),
    paths: Object.fromEntries(
      Object.entries(paths).map(([p, r]) => [
        p,
        Object.fromEntries([
          ['plain_completion', r.plain.completed / JOBS],
          ['plain_heartbeat_completion', r['plain-heartbeats'].completed / JOBS],
          ...CLIENTS.map((k) => [
            k,
            {
              completion: r[k].completed / JOBS,
              lost: r[k].lost,
              duplicates: r[k].duplicates,
              reconnects: Number(r[k].reconnects.toFixed(2)),
              overhead_s: r[k].overheadS === null ? null : Number(r[k].overheadS.toFixed(2)),
              late_p50_ms: r[k].lateP50Ms,
              late_p99_ms: r[k].lateP99Ms,
            },
          ]),
        ]),
      ]),
    ),
  });
}

if (process.argv[2] === '--path-host') await servePaths();
else await main();
