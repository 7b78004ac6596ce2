/**
 * bench:soak: does the server hold over time, under churn and store faults?
 *
 * Method (printed first): the server runs in a child process (bench/soak-server.ts: outlast on
 * 127.0.0.1, Node adapter with WebSocket attached, its publishers and a memory sampler); this
 * process runs the clients, the jobs and the Redis faults, and judges. Per store (memory,
 * then Redis; half of `--seconds` each, default 120 s in all):
 * - warm-up: 20 streams, each filled to its retention bound (2 000 events) before the phase
 *   starts; then each is published to every 25 ms (data = "stream:n");
 * - 60 logical readers churn: each connects over a random transport (SSE, WebSocket,
 *   long-poll), resumes from the last id it saw, and cuts at a random moment (four in five
 *   within 0 to 400 ms: during connect, during the 0-20 ms authorize, during the first read,
 *   mid catch-up, mid live; the others within 0.4 to 2.5 s, so SSE runs into its rotation,
 *   maxStream 1 s, and long-poll answers several rounds);
 * - every 50 ms a job is started over HTTP with an Idempotency-Key: a quarter succeed after
 *   progress, a quarter fail, a quarter are cancelled by DELETE, a quarter are POSTed twice
 *   with the same key (a retried start); job results are kept 5 s (resultTtlMs), so job
 *   records and job streams reach their steady number during the warm-up too;
 * - on Redis: paused (SIGSTOP) 800 ms at 25 % and 50 % of the phase, restarted at 70 %
 *   (SHUTDOWN SAVE, start: a restart that keeps the data; `--restart crash` instead saves at
 *   60 % and kills it at 70 %, so the restart rolls back to that dump);
 * - at the end, clients stop; the server must then hold nothing (`stats()` all 0 once running
 *   jobs settle), and `drain()` ends the phase.
 * Lost / duplicated / reordered are judged against the store's own log read at the end: for
 * each reader, an event the store holds between the first and last it saw that it never got
 * (and no gap notice excused) is lost; one it got twice is duplicated (split: the same id
 * again, which an id-deduping client drops, or another id, which it cannot); one that came
 * after a later one is reordered. Each is attributed to the connection that delivered it
 * (lost: the one that went past it), by transport and by cause: `restart` when that
 * connection overlapped the Redis restart (from SHUTDOWN to 2 s after the new start),
 * `pause` when it overlapped a pause (to 2 s after SIGCONT), else `churn`.
 * Memory: the server process's RSS (and V8 heap used) after a forced GC (node --expose-gc),
 * sampled every second; per phase, growth is the median of the last 10 % of the phase's
 * samples over the median of the 10 % just after warm-up (the first 40 % of the phase: V8
 * grows its old space's committed pages for about 40 s of this load while the live heap stays
 * flat; the growth from the 20 % mark is printed too); the worse phase is reported, with the
 * memory series (RSS, heap committed and used, external, V8 spaces) per tenth of the phase.
 * `--server-v8-flags '...'` passes V8 flags to the server process only (diagnosis: with
 * '--compact-on-every-full-gc' the committed heap stays flat where it grows without).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, type TransportKind } from '../test/helpers/clients.js';
import { command, startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import type { MemorySample, SoakCommand } from './soak-server.js';
import { median, printTable, result } from './util.js';

const args = process.argv.slice(2);
const secondsAt = args.indexOf('--seconds');
const totalSeconds = secondsAt === -1 ? 120 : Number(args[secondsAt + 1]);
if (!Number.isFinite(totalSeconds) || totalSeconds <= 0) {
  console.error('--seconds must be a positive number');
  process.exit(2);
}
const storeAt = args.indexOf('--store');
const only = storeAt === -1 ? null : args[storeAt + 1];
if (only !== null && only !== 'memory' && only !== 'redis') {
  console.error('--store takes memory or redis (default: both, half of --seconds each)');
  process.exit(2);
}
const restartAt = args.indexOf('--restart');
const restartHow = restartAt === -1 ? 'save' : args[restartAt + 1];
if (restartHow !== 'save' && restartHow !== 'crash') {
  console.error(
    '--restart takes save (SHUTDOWN SAVE, the default) or crash (SAVE at 60 %, SIGKILL at 70 %: a rollback)',
  );
  process.exit(2);
}
const flagsAt = args.indexOf('--server-v8-flags');
/** V8 flags for the server process only, e.g. '--compact-on-every-full-gc' (diagnosis). */
const serverV8Flags = flagsAt === -1 ? [] : (args[flagsAt + 1] ?? '').split(' ').filter(Boolean);
const STORES = only === null ? (['memory', 'redis'] as const) : ([only] as const);
const STREAMS = 20;
const READERS = 60;
/** Events retained per stream (a reader resuming from an evicted id gets a gap, excused). */
const RETAINED = 2_000;
/** How long job results stay (server resultTtlMs; memory store idle streams too). */
const RESULT_TTL_MS = 5_000;
/**
 * Share of each phase before the memory baseline. V8 grows its old space's committed pages
 * for the first ~40 s of this load while the live heap stays flat (the bench prints both
 * series): a baseline before that would measure V8 sizing its heap, not the server.
 */
const WARM_UP = 0.4;
/** The earlier baseline, printed beside it so the difference stays visible. */
const EARLY_WARM_UP = 0.2;
/** A connection this close to a fault (after it ended) is counted as around it. */
const FAULT_TAIL_MS = 2_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

console.log(
  `bench:soak, ${totalSeconds} s (${only === null ? 'half memory store, half Redis' : `${only} store only`}): server in a child process; ${STREAMS} streams pre-filled to ${RETAINED} events then published every 25 ms, ${READERS} churning readers over SSE/WebSocket/long-poll, jobs every 50 ms (results kept ${RESULT_TTL_MS / 1000} s), Redis paused twice and restarted once (${restartHow === 'save' ? 'SHUTDOWN SAVE' : 'SAVE at 60 %, killed at 70 %: rolled back'}), drain at the end. Server RSS and heap after a forced GC, once a second; growth = median of the last 10 % over median of the 10 % after the first ${WARM_UP * 100} % (warm-up).`,
);

type Cause = 'churn' | 'pause' | 'restart';
const CAUSES: Cause[] = ['churn', 'pause', 'restart'];
const KINDS: TransportKind[] = ['sse', 'ws', 'poll'];

interface Conn {
  kind: TransportKind;
  start: number;
  end: number;
  /** How it finished: `cut` (by us), `rotate`, `end`, `closed`, `refused {status}`, `stuck`. */
  how: string;
  /** Gap notices it carried. */
  gaps: number;
}

interface Reader {
  stream: string;
  lastId: string | null;
  /** Every event received: its number, id and the connection (index in `conns`). */
  got: { n: number; id: string; conn: number }[];
  /** Ranges (after, before) a gap notice excused. */
  excused: [number, number][];
}

interface Counts {
  connections: number;
  /** Gap notices received. */
  gaps: number;
  events: number;
  lost: number;
  dupSameId: number;
  dupNewId: number;
  reordered: number;
  excused: number;
}
const zero = (): Counts => ({
  connections: 0,
  gaps: 0,
  events: 0,
  lost: 0,
  dupSameId: 0,
  dupNewId: 0,
  reordered: 0,
  excused: 0,
});

interface PhaseFigures {
  store: string;
  clients: number;
  jobs: number;
  leaked: Record<string, number>;
  /** By `${cause}/${transport}`. */
  counts: Map<string, Counts>;
  unsettled: number;
  interrupted: number;
  idempotentRetries: number;
  idempotentSame: number;
  errors: number;
  publishFailures: number;
  samples: MemorySample[];
  seconds: number;
  /** How connections finished, per transport: `how` -> count. */
  finishes: Record<string, Record<string, number>>;
}

/** The server child and a request/answer helper over IPC. */
function startChild(): { child: ChildProcess; ask: <T>(c: object) => Promise<T> } {
  const child = fork(fileURLToPath(new URL('./soak-server.ts', import.meta.url)), [], {
    execArgv: ['--expose-gc', ...serverV8Flags, '--import', 'tsx'],
    stdio: 'inherit',
  });
  let next = 1;
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  child.on('message', (m: Record<string, unknown>) => {
    waiting.get(m.id as number)?.(m);
    waiting.delete(m.id as number);
  });
  const ask = <T>(c: object) =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, (m) => {
        if (typeof m.error === 'string') reject(new Error(`soak server: ${m.error}`));
        else resolve(m as T);
      });
      child.send({ ...c, id } as SoakCommand);
    });
  return { child, ask };
}

async function phase(
  name: 'memory' | 'redis',
  seconds: number,
  redis: TestRedis,
): Promise<PhaseFigures> {
  const { child, ask } = startChild();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { base } = await ask<{ base: string }>({
    type: 'start',
    store: name,
    redisUrl: redis.url,
    keyPrefix: `soak${Date.now()}:`,
    streams: STREAMS,
    retained: RETAINED,
    resultTtlMs: RESULT_TTL_MS,
  });
  await ask({ type: 'go' });
  const streams = Array.from({ length: STREAMS }, (_, i) => `s${i}`);
  const deadline = Date.now() + seconds * 1_000;
  let running = true;

  // Fault windows, wall clock.
  const faultsAt: { cause: Cause; from: number; to: number }[] = [];
  const conns: Conn[] = [];

  // Readers.
  const readers: Reader[] = Array.from({ length: READERS }, (_, i) => ({
    stream: streams[i % STREAMS]!,
    lastId: null,
    got: [],
    excused: [],
  }));
  const readLoops = readers.map(async (reader) => {
    while (running) {
      const kind = KINDS[Math.floor(Math.random() * KINDS.length)]!;
      const index = conns.length;
      const record: Conn = { kind, start: Date.now(), end: 0, how: '', gaps: 0 };
      conns.push(record);
      const conn = connect(kind, base, reader.stream, {
        lastEventId: reader.lastId,
        query: { heartbeat: '200', wait: '500' },
      });
      // Most cut early (0-400 ms); one in five stays up to 2.5 s: past SSE's rotation
      // (maxStream 1 s) and several long-poll rounds.
      const cutAfter = Math.random() < 0.8 ? Math.random() * 400 : 400 + Math.random() * 2_100;
      const timer = setTimeout(() => conn.cut(), cutAfter);
      const finish = await Promise.race([conn.finished, sleep(5_000).then(() => null)]);
      clearTimeout(timer);
      if (finish === null) conn.cut();
      record.end = Date.now();
      record.how =
        finish === null
          ? 'stuck'
          : finish.how === 'refused'
            ? `refused ${finish.status}`
            : finish.how;
      let last = reader.got.at(-1)?.n ?? -1;
      for (const m of conn.messages) {
        if (m.type === 'gap') {
          record.gaps++;
          reader.excused.push([last, Number.POSITIVE_INFINITY]);
        }
        if (m.type !== 'event') continue;
        const n = Number(m.data.slice(m.data.indexOf(':') + 1));
        const open = reader.excused.at(-1);
        if (open !== undefined && open[1] === Number.POSITIVE_INFINITY) open[1] = n;
        reader.got.push({ n, id: m.id, conn: index });
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
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const jobLoop = (async () => {
    for (let i = 0; running; i++) {
      const key = `${name}-${i}-${Math.random().toString(36).slice(2)}`;
      const which = i % 4;
      jobs++;
      if (which === 0) track(startJob('ok', key));
      else if (which === 1) track(startJob('fail', key));
      else if (which === 2) {
        track(
          startJob('slow', key).then(async (id) => {
            if (id === null) return;
            await sleep(30);
            await fetch(`${base}/jobs/${id}`, { method: 'DELETE' })
              .then((r) => r.text())
              .catch(() => {});
          }),
        );
      } else {
        track(
          (async () => {
            const first = await startJob('ok', key);
            const again = await startJob('ok', key);
            if (first === null || again === null) return; // refused (503 during a pause)
            idempotentRetries++;
            if (first === again) idempotentSame++;
            else {
              const state = async (id: string) =>
                fetch(`${base}/jobs/${id}`)
                  .then((r) => r.text())
                  .catch((e: unknown) => String(e));
              console.log(
                `${name}: key ${key} started ${first}, then ${again}: ${await state(first)} / ${await state(again)}`,
              );
            }
          })(),
        );
      }
      await sleep(50);
    }
  })();

  // Redis faults.
  const faults = (async () => {
    if (name !== 'redis') return;
    const at = (f: number) => sleep(Math.max(0, deadline - seconds * 1_000 * (1 - f) - Date.now()));
    for (const f of [0.25, 0.5]) {
      await at(f);
      const from = Date.now();
      redis.pause();
      await sleep(800);
      redis.resume();
      faultsAt.push({ cause: 'pause', from, to: Date.now() });
    }
    if (restartHow === 'crash') {
      await at(0.6);
      await command(redis.port, ['SAVE']);
    }
    await at(0.7);
    const from = Date.now();
    await redis.stop(restartHow === 'crash' ? { crash: true } : { save: true });
    await sleep(300);
    await redis.start();
    faultsAt.push({ cause: 'restart', from, to: Date.now() });
  })();

  await sleep(Math.max(0, deadline - Date.now()));
  running = false;
  await Promise.all([...readLoops, jobLoop, faults]);
  await Promise.all(inFlight);
  await ask({ type: 'stopPublishing' });

  // Clients are gone: let jobs settle, then nothing may be held.
  const idleBy = Date.now() + 10_000;
  const held = async (): Promise<Record<string, number>> => {
    const { stats } = await ask<{ stats: Record<string, unknown> }>({ type: 'stats' });
    const out: Record<string, number> = {};
    const connections = stats.connections as Record<string, number>;
    for (const [k, v] of Object.entries(connections)) if (v !== 0) out[`connections.${k}`] = v;
    for (const [k, v] of Object.entries(stats)) if (typeof v === 'number' && v !== 0) out[k] = v;
    return out;
  };
  let leaked = await held();
  while (Object.keys(leaked).length > 0 && Date.now() < idleBy) {
    await sleep(100);
    leaked = await held();
  }

  // The truth: what the store holds, per stream.
  const { truth } = await ask<{ truth: Record<string, [number, string, number][]> }>({
    type: 'truth',
  });
  const counts = new Map<string, Counts>();
  const causeOf = (c: Conn): Cause => {
    let cause: Cause = 'churn';
    for (const f of faultsAt) {
      if (c.start <= f.to + FAULT_TAIL_MS && c.end >= f.from) {
        if (f.cause === 'restart') return 'restart';
        cause = 'pause';
      }
    }
    return cause;
  };
  const countsOf = (conn: number): Counts => {
    const c = conns[conn]!;
    const key = `${causeOf(c)}/${c.kind}`;
    let entry = counts.get(key);
    if (entry === undefined) {
      entry = zero();
      counts.set(key, entry);
    }
    return entry;
  };
  for (const [i, c] of conns.entries()) {
    countsOf(i).connections++;
    countsOf(i).gaps += c.gaps;
  }
  for (const reader of readers) {
    const seen = new Map<number, string>();
    let max = -1;
    /** prefixMax[i]: the highest number among got[0..i]; non-decreasing. */
    const prefixMax: number[] = [];
    for (const { n, id, conn } of reader.got) {
      const c = countsOf(conn);
      c.events++;
      const before = seen.get(n);
      if (before !== undefined) {
        if (before === id) c.dupSameId++;
        else c.dupNewId++;
      } else if (n < max) c.reordered++;
      if (before === undefined) seen.set(n, id);
      max = Math.max(max, n);
      prefixMax.push(max);
    }
    if (reader.got.length === 0) continue;
    const first = Math.min(...reader.got.map((g) => g.n));
    for (const [n] of truth[reader.stream] ?? []) {
      if (n < first || n > max || seen.has(n)) continue;
      // The connection that went past it: the first whose delivery raised the max above n.
      let lo = 0;
      let hi = prefixMax.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (prefixMax[mid]! > n) hi = mid;
        else lo = mid + 1;
      }
      const c = countsOf(reader.got[lo]!.conn);
      if (reader.excused.some(([a, b]) => n > a && n < b)) c.excused++;
      else c.lost++;
    }
  }

  const done = await ask<{
    interrupted: number;
    unsettled: number;
    samples: MemorySample[];
    errors: number;
    publishFailures: number;
  }>({ type: 'finish', jobIds: [...jobIds] });
  child.disconnect();
  await exited;
  const finishes: Record<string, Record<string, number>> = {};
  for (const c of conns) {
    finishes[c.kind] ??= {};
    finishes[c.kind]![c.how] = (finishes[c.kind]![c.how] ?? 0) + 1;
  }
  return {
    finishes,
    store: name,
    clients: conns.length,
    jobs,
    leaked,
    counts,
    unsettled: done.unsettled,
    interrupted: done.interrupted,
    idempotentRetries,
    idempotentSame,
    errors: done.errors,
    publishFailures: done.publishFailures,
    samples: done.samples,
    seconds,
  };
}

const redis = await startRedis();
const phases: PhaseFigures[] = [];
try {
  for (const store of STORES) phases.push(await phase(store, totalSeconds / STORES.length, redis));
} finally {
  await redis.close();
}

/**
 * Growth of one phase: the last 10 % of its samples over the 10 % after its warm-up (the
 * first `WARM_UP` of the phase).
 */
function growthOf(p: PhaseFigures, of: (s: MemorySample) => number, warmUp = WARM_UP) {
  const samples = p.samples.filter((s) => s.t <= p.seconds + 0.5).map(of);
  const warm = Math.max(1, Math.floor(samples.length * warmUp));
  const tenth = Math.max(1, Math.floor(samples.length * 0.1));
  const early = median(samples.slice(warm, warm + tenth));
  const late = median(samples.slice(-tenth));
  return { early, late, pct: early > 0 ? ((late - early) / early) * 100 : 0 };
}
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const total = (p: PhaseFigures, f: (c: Counts) => number) =>
  [...p.counts.values()].reduce((a, c) => a + f(c), 0);
const dup = (c: Counts) => c.dupSameId + c.dupNewId;

printTable(
  [
    'store',
    'clients',
    'jobs',
    'leaked',
    'lost',
    'dup',
    'reord',
    'gap-excused',
    'unsettled',
    'interrupted',
    'idem same/retried',
    'publish failed',
    'onError',
  ],
  phases.map((p) => [
    p.store,
    String(p.clients),
    String(p.jobs),
    Object.keys(p.leaked).length === 0 ? '0' : JSON.stringify(p.leaked),
    String(total(p, (c) => c.lost)),
    String(total(p, dup)),
    String(total(p, (c) => c.reordered)),
    String(total(p, (c) => c.excused)),
    String(p.unsettled),
    String(p.interrupted),
    `${p.idempotentSame}/${p.idempotentRetries}`,
    String(p.publishFailures),
    String(p.errors),
  ]),
);
console.log('');
console.log('by phase, cause and transport (the connection that delivered it; lost: went past it)');
const rows: string[][] = [];
for (const p of phases) {
  for (const cause of CAUSES) {
    for (const kind of KINDS) {
      const c = p.counts.get(`${cause}/${kind}`);
      if (c === undefined) continue;
      rows.push([
        p.store,
        cause,
        kind,
        String(c.connections),
        String(c.gaps),
        String(c.events),
        String(c.lost),
        `${c.dupSameId}/${c.dupNewId}`,
        String(c.reordered),
        String(c.excused),
      ]);
    }
  }
}
printTable(
  [
    'store',
    'cause',
    'transport',
    'conns',
    'gaps told',
    'events',
    'lost',
    'dup same/new id',
    'reord',
    'gap-excused',
  ],
  rows,
);
console.log('');
console.log('how connections finished (cut: by the reader at its random moment)');
for (const p of phases) {
  for (const kind of KINDS) {
    const of = Object.entries(p.finishes[kind] ?? {}).sort((a, b) => b[1] - a[1]);
    console.log(`${p.store} ${kind}: ${of.map(([how, n]) => `${how} ${n}`).join(', ')}`);
  }
}
console.log('');
const growths = phases.map((p) => ({
  rss: growthOf(p, (s) => s.rss),
  rssEarly: growthOf(p, (s) => s.rss, EARLY_WARM_UP),
  heap: growthOf(p, (s) => s.heapUsed),
}));
for (const [i, g] of growths.entries()) {
  console.log(
    `${phases[i]!.store}: server RSS after warm-up ${mib(g.rss.early)} MiB, at the end ${mib(g.rss.late)} MiB: growth ${g.rss.pct.toFixed(1)} % (goal <= 5 %; from the ${EARLY_WARM_UP * 100} % mark instead: ${g.rssEarly.pct.toFixed(1)} %); V8 heap used ${mib(g.heap.early)} -> ${mib(g.heap.late)} MiB (${g.heap.pct.toFixed(1)} %)`,
  );
}
console.log('');
console.log('server memory over each phase (MiB, median of each tenth of its samples)');
for (const p of phases) {
  const samples = p.samples.filter((s) => s.t <= p.seconds + 0.5);
  const tenth = Math.max(1, Math.floor(samples.length / 10));
  const series = (of: (s: MemorySample) => number) =>
    Array.from({ length: Math.floor(samples.length / tenth) }, (_, i) =>
      mib(median(samples.slice(i * tenth, (i + 1) * tenth).map(of))),
    ).join(' ');
  console.log(`${p.store} rss:        ${series((s) => s.rss)}`);
  console.log(`${p.store} heapTotal:  ${series((s) => s.heapTotal)}`);
  console.log(`${p.store} heapUsed:   ${series((s) => s.heapUsed)}`);
  console.log(`${p.store} external:   ${series((s) => s.external)}`);
  for (const space of ['new_space', 'old_space', 'code_space', 'large_object_space']) {
    console.log(`${p.store} ${`${space}:`.padEnd(11)} ${series((s) => s.spaces[space] ?? 0)}`);
  }
}
for (const p of phases) {
  const samples = p.samples.filter((s) => s.t <= p.seconds + 0.5);
  const warm = samples[Math.floor(samples.length * WARM_UP)]?.held;
  const end = samples.at(-1)?.held;
  if (warm != null && end != null) {
    console.log(
      `${p.store} store held after warm-up ${JSON.stringify(warm)}, at the end ${JSON.stringify(end)}`,
    );
  }
}
const sum = (f: (p: PhaseFigures) => number) => phases.reduce((a, p) => a + f(p), 0);
const leakedTotal = sum((p) => Object.values(p.leaked).reduce((a, b) => a + b, 0));
const figures = {
  bench: 'soak',
  clients: sum((p) => p.clients),
  jobs: sum((p) => p.jobs),
  leaked: leakedTotal,
  rss_growth_pct: Number(Math.max(...growths.map((g) => g.rss.pct)).toFixed(1)),
  lost: sum((p) => total(p, (c) => c.lost)),
  duplicated: sum((p) => total(p, dup)),
  unsettled_jobs: sum((p) => p.unsettled),
  seconds: totalSeconds,
  reordered: sum((p) => total(p, (c) => c.reordered)),
  duplicated_new_id: sum((p) => total(p, (c) => c.dupNewId)),
  gap_excused: sum((p) => total(p, (c) => c.excused)),
  gaps_told: sum((p) => total(p, (c) => c.gaps)),
  rss_growth_pct_from_20pct: Number(Math.max(...growths.map((g) => g.rssEarly.pct)).toFixed(1)),
  heap_growth_pct: Number(Math.max(...growths.map((g) => g.heap.pct)).toFixed(1)),
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
