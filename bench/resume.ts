/**
 * bench:resume: how fast does a reader get its next event after a cut, and how late is its
 * progress on first contact through a hop that holds?
 *
 * Method. Three clients, each against its own server, in the same run:
 *   - `outlast`: `connect()` from outlast/client (a fresh memory profile per client, default
 *     options) against an outlast server (node:http), reading one stream over SSE first;
 *   - `durable-streams` and `durable-streams-lp`: `stream()` from `@durable-streams/client`
 *     against `@durable-streams/server` (in memory), in its two documented live modes, `sse` and
 *     `long-poll`, with its documented resume pattern: `onError` returns `{}` to retry, and the
 *     client resumes from its offset;
 *   - `eventsource`: the `eventsource` npm package against a plain SSE server with ids
 *     (`Last-Event-ID` resume, no `retry:` field, so the package's default reconnection time).
 * The servers, a TCP relay in front of each and the publisher run in a child process; the
 * clients in this one (a 2-core machine shared with other work: the load shows in the tails).
 * The relay cuts connections by kind: `fin` (a FIN after headers, mid-stream), `rst` (a reset
 * mid-stream), `total` (a FIN when the connection is TOTAL_MS old), `idle` (a FIN after
 * IDLE_MS without a byte from the server; the stream is silent apart from the events below),
 * `504` (a FIN mid-stream, and the client's next request answered 504 before any header).
 * Each kind runs isolated (ISO clients, cut one after another) and as a storm (STORM clients
 * cut at the same instant, or by the same clock). Right after each cut the publisher appends
 * one event (so a resumed reader has something to read at once); cut-to-next-event is that
 * event's arrival at the cut client minus the cut's time (same machine clock, ms), p50 / p99 /
 * max per client and kind. `restart`: a storm of RST with the server down for RESTART_MS (new
 * connections reset): the busiest 50 ms window of the reconnects that reach the restarted
 * server, in % of the clients (storm_busiest_50ms_pct), and the same window for every storm.
 * First contact: a 10 s job (40 progress events every 250 ms, each carrying its creation time)
 * through each holding preset of the chaos proxy and a hop that holds everything (head
 * included), at real time, a fresh client with no profile; lateness = arrival minus creation,
 * p50 per path and client.
 * Knobs: ISO (clients per isolated kind, 5), ISO_CUTS (cuts per client, 20: p99 over 100 cuts),
 * STORM, KINDS (e.g. `KINDS=504,restart`; the summary and RESULT cover the kinds run), CLIENTS
 * (e.g. `CLIENTS=outlast`);
 * Each scenario line ends with the event-loop delay p99 of the clients' and the servers'
 * process (the machine's load shows there, and in the tails); HIST=1 also prints, per storm,
 * the first reconnects in 50 ms bins after the cut (the policy's spread or a clumping loop).
 */
import { fork } from 'node:child_process';
import { createServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTcp } from 'node:net';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DurableStream, stream as dsStream } from '@durable-streams/client';
import { DurableStreamTestServer } from '@durable-streams/server';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { connect, memoryProfileStore } from '../src/client/index.js';
import { createProxy, type HopKnobs } from '../src/proxy/index.js';
import { attachWebSocket, createOutlast } from '../src/server/index.js';
import { printTable, quantile, result } from './util.js';

const ISO = Number(process.env.ISO ?? 5);
const ISO_CUTS = Number(process.env.ISO_CUTS ?? 20);
const STORM = Number(process.env.STORM ?? 1_000);
const TOTAL_MS = 1_000;
const IDLE_MS = 400;
const RESTART_MS = 1_000;
const KINDS = ['fin', 'rst', 'total', 'idle', '504'] as const;
const RUN_KINDS = process.env.KINDS?.split(',') ?? [...KINDS, 'restart'];
type Kind = (typeof KINDS)[number] | 'restart';
const ALL_CLIENTS = ['outlast', 'durable-streams', 'durable-streams-lp', 'eventsource'] as const;
type Client = (typeof ALL_CLIENTS)[number];
const CLIENTS = (process.env.CLIENTS?.split(',') as Client[] | undefined) ?? [...ALL_CLIENTS];
const HOLDING: Array<[string, { preset?: string; knobs?: Partial<HopKnobs> }]> = [
  ['corporate-av', { preset: 'corporate-av' }],
  ['nginx-gzip', { preset: 'nginx-gzip' }],
  ['express-compression', { preset: 'express-compression' }],
  ['azure-front-door', { preset: 'azure-front-door' }],
  ['api-gateway', { preset: 'api-gateway' }],
  [
    'hold-everything',
    { knobs: { holdWhole: true, headWaitsForBody: true, bufferTypes: ['text/event-stream'] } },
  ],
];
const JOB_STEPS = 40;
const JOB_STEP_MS = 250;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- child: servers and relays

interface CutLog {
  cuts: Array<{ c: number; at: number }>;
  accepts: Array<{ c: number; at: number }>;
}

/** A TCP relay that knows each connection's client (`c=` in its request line) and cuts by kind. */
function startRelay(targetPort: number, onCut: () => void) {
  const pairs = new Set<{ client: Socket; upstream: Socket; c: number }>();
  const log: CutLog = { cuts: [], accepts: [] };
  let kind: Kind = 'fin';
  const answer504 = new Set<number>();
  let downUntil = 0;
  const cutOne = (p: { client: Socket; upstream: Socket; c: number }, how: 'fin' | 'rst') => {
    if (!pairs.delete(p)) return;
    log.cuts.push({ c: p.c, at: now() });
    if (how === 'rst') p.client.resetAndDestroy();
    else p.client.destroySoon();
    p.upstream.destroy();
  };
  const server = createTcp((client) => {
    client.once('data', (first: Buffer) => {
      const m = /[?&]c=(\d+)/.exec(first.subarray(0, 2048).toString('latin1'));
      const c = m === null ? -1 : Number(m[1]);
      if (now() < downUntil) {
        client.resetAndDestroy();
        return;
      }
      if (answer504.delete(c)) {
        client.end(
          'HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
        );
        return;
      }
      log.accepts.push({ c, at: now() });
      const upstream = new (client.constructor as typeof Socket)();
      upstream.connect(targetPort, '127.0.0.1');
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      const pair = { client, upstream, c };
      pairs.add(pair);
      upstream.write(first);
      let idle: ReturnType<typeof setTimeout> | null = null;
      const drop = () => {
        if (idle !== null) clearTimeout(idle);
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      const byClock = (how: 'fin') => {
        if (!pairs.has(pair)) return;
        cutOne(pair, how);
        onCut();
      };
      if (kind === 'total') {
        const t = setTimeout(() => byClock('fin'), TOTAL_MS);
        upstream.on('close', () => clearTimeout(t));
      }
      const armIdle = () => {
        if (kind !== 'idle') return;
        if (idle !== null) clearTimeout(idle);
        idle = setTimeout(() => byClock('fin'), IDLE_MS);
      };
      armIdle();
      upstream.on('data', (d: Buffer) => {
        armIdle();
        client.write(d);
      });
      client.on('data', (d: Buffer) => upstream.write(d));
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    client.on('error', () => client.destroy());
  });
  return {
    server,
    log,
    setKind(k: Kind) {
      kind = k;
      answer504.clear();
      downUntil = 0;
      log.cuts = [];
      log.accepts = [];
    },
    /** Cuts every connection now, as the kind says. */
    cutAll() {
      const how = kind === 'rst' || kind === 'restart' ? 'rst' : 'fin';
      if (kind === 'restart') downUntil = now() + RESTART_MS;
      for (const p of [...pairs]) {
        if (kind === '504') answer504.add(p.c);
        cutOne(p, how);
      }
    },
    closeAll() {
      for (const p of [...pairs]) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
    },
  };
}

/** A plain SSE server with ids: every stream keeps its events; Last-Event-ID resumes. */
function startPlainSse() {
  const streams = new Map<string, { events: string[]; readers: Set<ServerResponse> }>();
  const get = (name: string) => {
    let s = streams.get(name);
    if (s === undefined) {
      s = { events: [], readers: new Set() };
      streams.set(name, s);
    }
    return s;
  };
  const http: HttpServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const s = get(url.pathname.replace(/^\/events\//, ''));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const last = Number(req.headers['last-event-id'] ?? '0') || 0;
    for (let i = last; i < s.events.length; i++)
      res.write(`id: ${i + 1}\ndata: ${s.events[i]}\n\n`);
    s.readers.add(res);
    res.on('close', () => s.readers.delete(res));
  });
  return {
    http,
    publish(name: string, data: string) {
      const s = get(name);
      s.events.push(data);
      for (const r of s.readers) r.write(`id: ${s.events.length}\ndata: ${data}\n\n`);
    },
  };
}

async function listen(server: {
  listen(port: number, host: string, cb: () => void): unknown;
  address(): unknown;
}): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function host(): Promise<void> {
  const outlast = createOutlast({
    heartbeatMs: 15_000,
    heartbeatTickMs: 20,
    retryMs: 1_000,
    onError: () => {},
    maxConnections: 100_000,
    jobs: {
      progress: async (ctx: { progress(d: unknown): Promise<void> }) => {
        for (let i = 0; i < JOB_STEPS; i++) {
          await ctx.progress({ seq: i, at: now() });
          await sleep(JOB_STEP_MS);
        }
        return 'done';
      },
    },
  } as Parameters<typeof createOutlast>[0]);
  const outlastHttp = createServer(outlast.handleNode);
  attachWebSocket(outlast, outlastHttp);
  const outlastPort = await listen(outlastHttp);
  const ds = new DurableStreamTestServer({ port: 0, host: '127.0.0.1' });
  await ds.start();
  const dsPort = Number(new URL(ds.url).port);
  const plain = startPlainSse();
  const plainPort = await listen(plain.http);

  let current: { client: Client; name: string; seq: number } = {
    client: 'outlast',
    name: '',
    seq: 0,
  };
  const dsHandles = new Map<string, DurableStream>();
  let lastMarker = 0;
  let markerPending = false;
  const publish = async (client: Client, name: string, seq: number) => {
    const data = JSON.stringify({ seq, at: now() });
    if (client === 'outlast') await outlast.publish(name, { data });
    else if (client === 'eventsource') plain.publish(name, data);
    else await dsHandles.get(name)!.append(data);
  };
  /** One event right after a cut (several cuts within 5 ms share one). */
  const marker = () => {
    if (markerPending) return;
    const wait = Math.max(0, lastMarker + 5 - now());
    markerPending = true;
    setTimeout(() => {
      markerPending = false;
      lastMarker = now();
      void publish(current.client, current.name, ++current.seq).catch(() => {});
    }, wait);
  };
  const relays: Record<Client, ReturnType<typeof startRelay>> = {
    outlast: startRelay(outlastPort, marker),
    'durable-streams': startRelay(dsPort, marker),
    'durable-streams-lp': startRelay(dsPort, marker),
    eventsource: startRelay(plainPort, marker),
  };
  const ports = {} as Record<Client, number>;
  for (const c of ALL_CLIENTS) ports[c] = await listen(relays[c].server);
  const proxies: Array<{ close(): Promise<void> }> = [];

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  process.on('message', async (m: Record<string, unknown>) => {
    const reply = (v: unknown) => process.send!(v);
    switch (m.type) {
      case 'ports':
        return reply({ ports, direct: { outlast: outlastPort, ds: dsPort, plain: plainPort } });
      case 'scenario': {
        const client = m.client as Client;
        const name = String(m.name);
        relays[client].setKind(m.kind as Kind);
        current = { client, name, seq: 0 };
        if (client.startsWith('durable-streams')) {
          dsHandles.set(
            name,
            await DurableStream.create({
              url: `${ds.url}/v1/stream/${name}`,
              contentType: 'application/json',
            }),
          );
        }
        // A first event: every connection has delivered one before it is cut.
        await publish(client, name, 0);
        return reply({});
      }
      case 'cut': {
        relays[current.client].cutAll();
        marker();
        return reply({});
      }
      case 'collect': {
        const r = relays[current.client];
        const log = { cuts: r.log.cuts, accepts: r.log.accepts, lagP99: lag.percentile(99) / 1e6 };
        lag.reset();
        r.setKind('fin');
        r.closeAll();
        if (current.client === 'outlast') await outlast.end(current.name).catch(() => {});
        return reply(log);
      }
      case 'holding': {
        // Proxies for the first-contact runs, in front of the servers directly.
        const out: Record<string, Record<string, string>> = {};
        for (const [path, o] of HOLDING) {
          out[path] = {};
          for (const [key, port] of [
            ['outlast', outlastPort],
            ['ds', dsPort],
            ['plain', plainPort],
          ] as const) {
            const p = await createProxy({ target: `http://127.0.0.1:${port}`, ...o });
            proxies.push(p);
            out[path]![key] = p.url;
          }
        }
        return reply(out);
      }
      case 'job-streams': {
        // The plain and Durable Streams sides of the first-contact job: 40 events 250 ms apart.
        const name = String(m.name);
        const handle = await DurableStream.create({
          url: `${ds.url}/v1/stream/${name}`,
          contentType: 'application/json',
        });
        reply({});
        for (let i = 0; i < JOB_STEPS; i++) {
          const data = JSON.stringify({ seq: i, at: now() });
          plain.publish(name, data);
          await handle.append(data);
          await sleep(JOB_STEP_MS);
        }
        return;
      }
      case 'stop':
        await Promise.all(proxies.map((p) => p.close()));
        process.exit(0);
    }
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------- main: clients

interface Reader {
  arrivals: Array<{ seq: number; at: number }>;
  /** Arrival minus creation of each event, ms. */
  late: number[];
  duplicates: number;
  close(): void;
}

function track(): Omit<Reader, 'close'> & { add(data: string): void } {
  const seen = new Set<number>();
  const r = {
    arrivals: [] as Array<{ seq: number; at: number }>,
    late: [] as number[],
    duplicates: 0,
    add(data: string) {
      const d = JSON.parse(data) as { seq: number; at: number };
      const at = now();
      if (seen.has(d.seq)) r.duplicates++;
      seen.add(d.seq);
      r.arrivals.push({ seq: d.seq, at });
      r.late.push(at - d.at);
    },
  };
  return r;
}

function openReader(
  client: Client,
  base: string,
  name: string,
  c: number,
  live: 'sse' | 'long-poll' = client === 'durable-streams-lp' ? 'long-poll' : 'sse',
): Reader {
  const t = track();
  if (client === 'outlast') {
    const conn = connect(`${base}/outlast/streams/${name}?c=${c}`, {
      WebSocket: WebSocket as never,
      profile: memoryProfileStore(),
      reports: false,
    });
    if (process.env.DEBUG) {
      conn.on('reconnecting', (r) =>
        console.log(
          `c${c} ${Math.round(now() % 100_000)} ${r.cause} wait ${Math.round(r.delayMs)} attempt ${r.attempt}`,
        ),
      );
      conn.on('transport', (t) =>
        console.log(
          `c${c} ${Math.round(now() % 100_000)} transport ${t.from} -> ${t.to}: ${t.reason}`,
        ),
      );
      conn.on('learn', (l) =>
        console.log(`c${c} ${Math.round(now() % 100_000)} learn ${l.rule}: ${l.note}`),
      );
    }
    void (async () => {
      try {
        for await (const e of conn) t.add(e.data);
      } catch {
        // Closed by the bench.
      }
    })();
    return { ...t, close: () => conn.close() };
  }
  if (client === 'eventsource') {
    const es = new EventSource(`${base}/events/${name}?c=${c}`);
    es.onmessage = (e) => t.add(e.data);
    return { ...t, close: () => es.close() };
  }
  const aborter = new AbortController();
  void dsStream<{ seq: number; at: number }>({
    url: `${base}/v1/stream/${name}`,
    params: { c: String(c) },
    live,
    offset: '-1',
    signal: aborter.signal,
    onError: () => ({}),
  })
    .then((res) =>
      res.subscribeJson(async (batch) => {
        for (const item of batch.items) t.add(JSON.stringify(item));
      }),
    )
    .catch(() => {});
  return { ...t, close: () => aborter.abort() };
}

function busiest50(times: number[]): number {
  const d = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < d.length; i++) {
    while (d[i]! - d[j]! >= 50) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

interface Figures {
  p50: number | null;
  p99: number | null;
  max: number | null;
  missed: number;
  busiestPct: number | null;
  duplicates: number;
  /** Event-loop delay p99 during the scenario, ms: [clients' process, servers' process]. */
  lagP99: [number, number];
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--host'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The host never outlives the bench, whatever ends it.
  process.on('exit', () => child.kill());
  const ask = <T>(m: Record<string, unknown>) =>
    new Promise<T>((resolve) => {
      child.once('message', (v) => resolve(v as T));
      child.send(m);
    });
  await new Promise((r) => child.once('message', r));
  const { ports } = await ask<{ ports: Record<Client, number> }>({ type: 'ports' });
  console.log(
    `# bench:resume (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})\n`,
  );
  console.log(
    `Method: see the top of bench/resume.ts. Isolated: ${ISO} clients, ${ISO_CUTS} cuts each (fin, rst, 504) or ${(TOTAL_MS / 1000).toFixed(1)} s total / ${IDLE_MS} ms idle clocks for 4 s; storm: ${STORM} clients; restart: RST of all with the server down ${RESTART_MS} ms.\n`,
  );
  let run = 0;
  let now_ = '';
  // @durable-streams/client lets a cut SSE body's `TypeError: terminated` escape as an
  // uncaught exception (seen here on FIN and RST cuts): counted and reported, not fatal.
  const uncaught: Record<string, number> = {};
  process.on('uncaughtException', (e) => {
    if (!now_.startsWith('durable-streams')) {
      console.error(`uncaught in ${now_}:`, e);
      process.exit(1);
    }
    uncaught[now_] = (uncaught[now_] ?? 0) + 1;
  });
  const clientLag = monitorEventLoopDelay({ resolution: 10 });
  clientLag.enable();
  const scenario = async (client: Client, kind: Kind, n: number): Promise<Figures> => {
    const name = `r${++run}`;
    now_ = `${client} ${kind} x${n}`;
    const base = `http://127.0.0.1:${ports[client]}`;
    await ask({ type: 'scenario', client, kind, name });
    const readers = Array.from({ length: n }, (_, c) => openReader(client, base, name, c));
    const deadline = Date.now() + 30_000;
    while (readers.some((r) => r.arrivals.length === 0) && Date.now() < deadline) await sleep(20);
    await sleep(100);
    const cutAt = now();
    if (kind === 'total' || kind === 'idle') await sleep(n === STORM ? 2_500 : 4_000);
    else {
      const cuts = n === STORM ? 1 : ISO_CUTS;
      for (let k = 0; k < cuts; k++) {
        await ask({ type: 'cut' });
        await sleep(n === STORM ? (kind === 'restart' ? RESTART_MS + 6_000 : 3_000) : 400);
      }
      if (kind === '504' || kind === 'restart') await sleep(n === STORM ? 2_000 : 1_000);
    }
    await sleep(500);
    const clientLagP99 = clientLag.percentile(99) / 1e6;
    clientLag.reset();
    const log = await ask<CutLog & { lagP99: number }>({ type: 'collect' });
    for (const r of readers) r.close();
    const lat: number[] = [];
    let missed = 0;
    for (const cut of log.cuts) {
      const next = readers[cut.c]?.arrivals.find((a) => a.at > cut.at);
      if (next === undefined) missed++;
      else lat.push(next.at - cut.at);
    }
    const firstBack = new Map<number, number>();
    for (const a of log.accepts) if (a.at > cutAt && !firstBack.has(a.c)) firstBack.set(a.c, a.at);
    const reconnects = [...firstBack.values()];
    if (process.env.HIST && n === STORM) {
      const bins = new Map<number, number>();
      for (const t of reconnects) {
        const b = Math.floor((t - cutAt) / 50) * 50;
        bins.set(b, (bins.get(b) ?? 0) + 1);
      }
      console.log(
        [...bins]
          .sort((a, b) => a[0] - b[0])
          .map(([b, k]) => `${b}:${k}`)
          .join(' '),
      );
    }
    return {
      p50: lat.length ? Math.round(quantile(lat, 0.5)) : null,
      p99: lat.length ? Math.round(quantile(lat, 0.99)) : null,
      max: lat.length ? Math.round(Math.max(...lat)) : null,
      missed,
      busiestPct:
        n === STORM && reconnects.length > 0
          ? Number(((100 * busiest50(reconnects)) / n).toFixed(1))
          : null,
      duplicates: readers.reduce((s, r) => s + r.duplicates, 0),
      lagP99: [Math.round(clientLagP99), Math.round(log.lagP99)],
    };
  };

  const table: Record<string, Record<Client, Figures>> = {};
  const modes: Array<[string, Kind, number]> = [
    ...KINDS.map((k) => [`${k} isolated`, k, ISO] as [string, Kind, number]),
    ...KINDS.map((k) => [`${k} storm`, k, STORM] as [string, Kind, number]),
    ['restart storm', 'restart', STORM],
  ];
  for (const [label, kind, n] of modes.filter(([, k]) => RUN_KINDS.includes(k))) {
    table[label] = {} as Record<Client, Figures>;
    for (const client of CLIENTS) {
      table[label]![client] = await scenario(client, kind, n);
      await sleep(300);
    }
    const row = table[label]!;
    console.log(
      `${label}: ${CLIENTS.map((c) => `${c} p50 ${row[c].p50} / p99 ${row[c].p99} / max ${row[c].max} ms${row[c].missed ? ` (${row[c].missed} cuts without a next event)` : ''}${row[c].busiestPct !== null ? `, busiest 50 ms ${row[c].busiestPct} %` : ''}${row[c].duplicates ? `, ${row[c].duplicates} duplicates` : ''} (loop lag p99 ${row[c].lagP99.join('/')} ms)`).join('; ')}`,
    );
  }

  // First contact through holding hops.
  const holding = await ask<Record<string, Record<string, string>>>({ type: 'holding' });
  const firstContact: Record<string, Record<string, number | null>> = {};
  await Promise.all(
    HOLDING.map(async ([path], k) => {
      const urls = holding[path]!;
      const name = `job${k}`;
      // outlast: the job itself, started by POST, a fresh client with no profile.
      const outlastLate: number[] = [];
      const conn = connect(`${urls.outlast}/outlast/jobs/progress`, {
        body: {},
        WebSocket: WebSocket as never,
        profile: memoryProfileStore(),
        reports: false,
      });
      const outlastDone = (async () => {
        for await (const e of conn) {
          const d = JSON.parse(e.data) as { at: number };
          outlastLate.push(now() - d.at);
        }
      })().catch(() => {});
      await ask({ type: 'job-streams', name });
      const others: Record<string, Reader> = {
        'durable-streams sse': openReader('durable-streams', urls.ds!, name, 0, 'sse'),
        'durable-streams long-poll': openReader('durable-streams', urls.ds!, name, 0, 'long-poll'),
        eventsource: openReader('eventsource', urls.plain!, name, 0),
      };
      await Promise.race([outlastDone, sleep(JOB_STEPS * JOB_STEP_MS + 8_000)]);
      await sleep(1_000);
      conn.close();
      const p50 = (late: number[]) =>
        late.length >= JOB_STEPS ? Math.round(quantile(late, 0.5)) : null;
      const out: Record<string, number | null> = { outlast: p50(outlastLate) };
      for (const [key, r] of Object.entries(others)) {
        r.close();
        out[key] = p50(r.late);
      }
      firstContact[path] = out;
    }),
  );
  await ask({ type: 'stop' }).catch(() => {});
  child.kill();

  console.log('\n## cut-to-next-event (ms): p50 / p99 / max\n');
  printTable(
    ['cut', ...CLIENTS],
    Object.entries(table).map(([label, row]) => [
      label,
      ...CLIENTS.map(
        (c) =>
          `${row[c].p50 ?? '-'} / ${row[c].p99 ?? '-'} / ${row[c].max ?? '-'}${row[c].missed ? ` (${row[c].missed} missed)` : ''}`,
      ),
    ]),
  );
  console.log(
    '\n## storms: busiest 50 ms window of reconnects reaching the server (% of clients)\n',
  );
  printTable(
    ['storm', ...CLIENTS],
    Object.entries(table)
      .filter(([l]) => l.endsWith('storm'))
      .map(([label, row]) => [label, ...CLIENTS.map((c) => `${row[c].busiestPct ?? '-'}`)]),
  );
  const fcKeys = ['outlast', 'durable-streams sse', 'durable-streams long-poll', 'eventsource'];
  console.log(
    '\n## first contact through holding hops: progress lateness p50 (ms; - = not every event arrived)\n',
  );
  printTable(
    ['path', ...fcKeys],
    Object.entries(firstContact).map(([p, r]) => [p, ...fcKeys.map((k) => `${r[k] ?? '-'}`)]),
  );
  if (Object.keys(uncaught).length > 0) {
    console.log(
      `\n@durable-streams/client uncaught exceptions (a cut body's TypeError: terminated): ${Object.entries(
        uncaught,
      )
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}`,
    );
  }
  // Only the kinds this run measured in isolation (KINDS may leave some out; restart has none).
  const isolatedKinds = KINDS.filter((k) => table[`${k} isolated`] !== undefined);
  const isolated = isolatedKinds.map((k) => table[`${k} isolated`]!);
  const worst = (c: Client, rows: Array<Record<Client, Figures>>) =>
    rows.length === 0 ? null : Math.max(...rows.map((r) => r[c].p99 ?? Number.POSITIVE_INFINITY));
  const dupes = Object.values(table).reduce((s, r) => s + r.outlast.duplicates, 0);
  const clean = isolatedKinds.filter((k) => k !== '504');
  console.log(
    `\noutlast duplicates over every scenario: ${dupes}; p99 over isolated ${clean.join('/') || '(none)'}: ${worst(
      'outlast',
      clean.map((k) => table[`${k} isolated`]!),
    )} ms, 504: ${table['504 isolated']?.outlast.p99 ?? '-'} ms`,
  );
  result({
    bench: 'resume',
    outlast_p99_resume_ms: worst('outlast', isolated),
    durable_streams_p99_resume_ms: Math.min(
      worst('durable-streams', isolated) ?? Number.POSITIVE_INFINITY,
      worst('durable-streams-lp', isolated) ?? Number.POSITIVE_INFINITY,
    ),
    durable_streams_sse_p99_resume_ms: worst('durable-streams', isolated),
    durable_streams_long_poll_p99_resume_ms: worst('durable-streams-lp', isolated),
    eventsource_p99_resume_ms: worst('eventsource', isolated),
    outlast_first_contact_late_p50_ms: Math.max(
      ...Object.values(firstContact).map((r) => r.outlast ?? Number.POSITIVE_INFINITY),
    ),
    storm_busiest_50ms_pct: table['restart storm']?.outlast.busiestPct ?? null,
    per_kind_p99_ms: Object.fromEntries(
      Object.entries(table).map(([l, r]) => [
        l,
        Object.fromEntries(CLIENTS.map((c) => [c, r[c].p99])),
      ]),
    ),
    first_contact_late_p50_ms: firstContact,
    outlast_duplicates: dupes,
  });
  // Readers closed by the bench can leave sockets and timers behind (the peers' clients):
  // the bench ends with its RESULT, not when they let go.
  process.exit(0);
}

if (process.argv.includes('--host')) void host();
else void main();
