/**
 * bench:proxy: what `outlast proxy` adds to a stream, per hop, against a direct connection.
 *
 * Method: an upstream (node:http, this process) holds STREAMS concurrent SSE responses and
 * writes on each one event every INTERVAL ms carrying its send time (writes are spread over
 * the interval, not bursts); a client in this same process (same clock) reads them all and
 * records arrival minus send time. Two rates: INTERVAL 1000 ms (a heartbeat or progress event
 * per second per stream, the long-running-job case; the RESULT line) and STRESS_INTERVAL
 * 100 ms (ten times the load, reported in the table). The proxy runs in a child process (as it would in a test
 * rig: its own event loop), as 1 hop or a chain of 3 transparent hops (no clock, no fault:
 * the fast path every preset's stream uses until a clock fires). Each configuration runs
 * DURATION ms after a warm-up; latency is taken over every event of every stream, and the
 * added latency per hop is (proxied quantile - direct quantile) / hops.
 * Throughput: STREAMS concurrent responses of BULK bytes each, read as fast as possible;
 * MB/s of the whole transfer. Direct, 1 hop and 3 hops run in the same process, in turn.
 * The 2 cores of the machine are shared by the upstream, the client and the proxy: figures
 * include that contention.
 * Environment: STREAMS, INTERVAL, STRESS_INTERVAL, DURATION, WARMUP, BULK change the load; SKIP_THROUGHPUT=1
 * skips the bulk phase; PROXY_CPU=1 prints the proxy process's CPU time; PROXY_PROF=DIR writes
 * its CPU profile there.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Agent, createServer, get, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createProxy } from '../src/proxy/index.js';
import { median, printTable, quantile, result } from './util.js';

const STREAMS = Number(process.env.STREAMS ?? 1000);
const INTERVAL = Number(process.env.INTERVAL ?? 1000);
const STRESS_INTERVAL = Number(process.env.STRESS_INTERVAL ?? 100);
const DURATION = Number(process.env.DURATION ?? 4000);
const WARMUP = Number(process.env.WARMUP ?? 1000);
const BULK = Number(process.env.BULK ?? 256 * 1024);

if (process.argv[2] === '--child') {
  // The proxy side: N transparent hops in front of the target, URL sent back over IPC.
  const hops = Array.from({ length: Number(process.argv[4]) }, () => ({}));
  const proxy = await createProxy({ target: process.argv[3]!, hops });
  process.send!({ url: proxy.url });
  process.on('disconnect', () => {
    if (process.env.PROXY_CPU) {
      const u = process.resourceUsage();
      console.error(
        `proxy child cpu: user ${u.userCPUTime / 1000} ms, system ${u.systemCPUTime / 1000} ms`,
      );
    }
    void proxy.close().then(() => process.exit(0));
  });
} else {
  await run();
}

interface Upstream {
  url: string;
  server: Server;
  /** Milliseconds between two events of one stream; settable between runs. */
  interval: number;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/bulk')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const piece = Buffer.alloc(16 * 1024, 120);
      let left = BULK;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, piece.length);
          left -= n;
          if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  server.keepAliveTimeout = 60_000;
  // Spread the writes: every 5 ms, the streams whose turn it is.
  let slot = 0;
  const timer = setInterval(() => {
    const slots = Math.max(1, Math.round(upstream.interval / 5));
    slot = (slot + 1) % slots;
    let i = 0;
    const now = performance.now().toFixed(3);
    for (const res of streams) {
      if (i++ % slots === slot) res.write(`data: ${now}\n\n`);
    }
  }, 5);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstream: Upstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    interval: INTERVAL,
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return upstream;
}

async function startHops(
  target: string,
  hops: number,
): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', target, String(hops)], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.PROXY_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROXY_PROF}`] : []),
    ],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`proxy child exited ${code}`)));
  });
  return { url, child };
}

async function stopHops(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.disconnect();
  await exited;
}

/** Opens STREAMS SSE streams through `url` and collects event latencies after the warm-up. */
async function latency(url: string): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const samples: number[] = [];
  // The window starts once every stream is open: opening 1 000 streams through a chain is
  // not what is measured.
  let start = Number.POSITIVE_INFINITY;
  const requests: Array<{ destroy(): void }> = [];
  await new Promise<void>((resolve) => {
    let open = 0;
    for (let i = 0; i < STREAMS; i++) {
      const req = get(`${url}/sse`, { agent }, (res) => {
        if (++open === STREAMS) {
          start = performance.now();
          resolve();
        }
        let rest = '';
        res.setEncoding('latin1');
        res.on('data', (text: string) => {
          const at = performance.now();
          rest += text;
          let end = rest.indexOf('\n\n');
          while (end >= 0) {
            const sent = Number(rest.slice(6, end));
            if (at - start > WARMUP) samples.push(at - sent);
            rest = rest.slice(end + 2);
            end = rest.indexOf('\n\n');
          }
        });
        res.on('error', () => {});
      });
      req.on('error', () => {});
      requests.push(req);
    }
  });
  await new Promise((r) => setTimeout(r, WARMUP + DURATION));
  for (const r of requests) r.destroy();
  agent.destroy();
  return samples;
}

/** STREAMS concurrent bulk responses; MB/s of the whole. */
async function throughput(url: string): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const start = performance.now();
  let bytes = 0;
  await Promise.all(
    Array.from(
      { length: STREAMS },
      () =>
        new Promise<void>((resolve, reject) => {
          get(`${url}/bulk`, { agent }, (res) => {
            res.on('data', (c: Buffer) => {
              bytes += c.length;
            });
            res.on('end', resolve);
            res.on('error', reject);
          }).on('error', reject);
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  if (bytes !== STREAMS * BULK) throw new Error(`bulk: got ${bytes} of ${STREAMS * BULK} bytes`);
  return bytes / 1e6 / seconds;
}

interface Row {
  name: string;
  hops: number;
  interval: number;
  p50: number;
  p99: number;
  n: number;
  mbps: number;
}

async function run(): Promise<void> {
  console.log('bench:proxy: latency and throughput added by outlast proxy hops');
  console.log(
    `method: ${STREAMS} concurrent SSE streams, one event per stream every ${INTERVAL} ms (and, as a stress ` +
      `run, every ${STRESS_INTERVAL} ms) carrying its send time; latency = arrival - send over ${DURATION} ms ` +
      `after ${WARMUP} ms warm-up, once every stream is open; proxy hops (transparent: the fast path every ` +
      `preset streams through until a clock fires) in one child process; added per hop = (proxied - direct) / ` +
      `hops. Throughput: ${STREAMS} concurrent responses of ${BULK} bytes, MB/s overall. Upstream and client ` +
      `share this process. RESULT: the ${INTERVAL} ms rate, per hop = median of the 1-hop and 3-hop estimates.`,
  );
  console.log(
    `machine: ${cpus().length} cores (shared with other work), load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at start`,
  );
  const up = await startUpstream();
  const configs = [
    { name: 'direct', hops: 0 },
    { name: '1 hop', hops: 1 },
    { name: '3 hops', hops: 3 },
  ];
  const rows: Row[] = [];
  for (const c of configs) {
    const proxy = c.hops === 0 ? null : await startHops(up.url, c.hops);
    const url = proxy?.url ?? up.url;
    const mbps = process.env.SKIP_THROUGHPUT ? Number.NaN : await throughput(url);
    for (const interval of [INTERVAL, STRESS_INTERVAL]) {
      up.interval = interval;
      const samples = await latency(url);
      rows.push({
        name: c.name,
        hops: c.hops,
        interval,
        p50: median(samples),
        p99: quantile(samples, 0.99),
        n: samples.length,
        mbps,
      });
    }
    if (proxy !== null) await stopHops(proxy.child);
  }
  await up.close();
  const base = (r: Row): Row => rows.find((d) => d.hops === 0 && d.interval === r.interval)!;
  const perHop = (r: Row, q: 'p50' | 'p99'): number => (r[q] - base(r)[q]) / r.hops;
  printTable(
    [
      'path',
      'every',
      'events',
      'p50 ms',
      'p99 ms',
      'added p50/hop',
      'added p99/hop',
      'MB/s',
      'vs direct',
    ],
    rows.map((r) => [
      r.name,
      `${r.interval} ms`,
      String(r.n),
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      r.hops === 0 ? '-' : perHop(r, 'p50').toFixed(3),
      r.hops === 0 ? '-' : perHop(r, 'p99').toFixed(3),
      r.mbps.toFixed(0),
      (r.mbps / base(r).mbps).toFixed(2),
    ]),
  );
  const main = rows.filter((r) => r.interval === INTERVAL && r.hops > 0);
  const stress = rows.filter((r) => r.interval === STRESS_INTERVAL && r.hops > 0);
  const p50PerHop = median(main.map((r) => perHop(r, 'p50')));
  const p99PerHop = median(main.map((r) => perHop(r, 'p99')));
  const stressP50 = median(stress.map((r) => perHop(r, 'p50')));
  console.log(
    `goal p50 added latency <= 1 ms per hop: ${p50PerHop <= 1 ? 'met' : 'MISSED'} at one event per ${INTERVAL} ms ` +
      `(${p50PerHop.toFixed(3)} ms); ${stressP50 <= 1 ? 'met' : 'MISSED'} at one per ${STRESS_INTERVAL} ms ` +
      `(${stressP50.toFixed(3)} ms)`,
  );
  const one = rows.find((r) => r.hops === 1)!;
  result({
    bench: 'proxy',
    p50_added_ms_per_hop: Number(p50PerHop.toFixed(3)),
    p99_added_ms_per_hop: Number(p99PerHop.toFixed(3)),
    throughput_ratio_vs_direct: Number((one.mbps / base(one).mbps).toFixed(3)),
  });
}
