/**
 * bench:proxy: what `outlast proxy` adds to a stream, per hop, against a direct connection.
 *
 * Method: an upstream (node:http, this process) holds STREAMS concurrent SSE responses and
 * writes on each one event every INTERVAL ms carrying its send time (writes are spread over
 * the interval, not bursts); a client in this same process (same clock) reads them all and
 * records arrival minus send time. The proxy runs in a child process (as it would in a test
 * rig: its own event loop), as 1 hop or a chain of 3 transparent hops (no clock, no fault:
 * the fast path every preset's stream uses until a clock fires). Each configuration runs
 * DURATION ms after a warm-up; latency is taken over every event of every stream, and the
 * added latency per hop is (proxied quantile - direct quantile) / hops.
 * Throughput: STREAMS concurrent responses of BULK bytes each, read as fast as possible;
 * MB/s of the whole transfer. Direct, 1 hop and 3 hops run in the same process, in turn.
 * The 2 cores of the machine are shared by the upstream, the client and the proxy: figures
 * include that contention.
 * Environment: STREAMS, INTERVAL, DURATION, WARMUP, BULK change the load; SKIP_THROUGHPUT=1
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
const INTERVAL = Number(process.env.INTERVAL ?? 100);
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
  const slots = Math.max(1, Math.round(INTERVAL / 5));
  let slot = 0;
  const timer = setInterval(() => {
    let i = 0;
    const now = performance.now().toFixed(3);
    for (const res of streams) {
      if (i++ % slots === slot) res.write(`data: ${now}\n\n`);
    }
    slot = (slot + 1) % slots;
  }, 5);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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
  const start = performance.now();
  const requests: Array<{ destroy(): void }> = [];
  await new Promise<void>((resolve) => {
    let open = 0;
    for (let i = 0; i < STREAMS; i++) {
      const req = get(`${url}/sse`, { agent }, (res) => {
        if (++open === STREAMS) resolve();
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
  await new Promise((r) => setTimeout(r, WARMUP + DURATION - (performance.now() - start)));
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

async function run(): Promise<void> {
  console.log('bench:proxy: latency and throughput added by outlast proxy hops');
  console.log(
    `method: ${STREAMS} concurrent SSE streams, one event per stream every ${INTERVAL} ms with its send time; ` +
      `latency = arrival - send over ${DURATION} ms after ${WARMUP} ms warm-up; proxy hops in a child process ` +
      `(transparent, fast path); added per hop = (proxied - direct) / hops. Throughput: ${STREAMS} concurrent ` +
      `responses of ${BULK} bytes, MB/s overall. Upstream and client share this process; 2 shared cores.`,
  );
  console.log(
    `machine: ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at start`,
  );
  const up = await startUpstream();
  const configs = [
    { name: 'direct', hops: 0 },
    { name: '1 hop', hops: 1 },
    { name: '3 hops', hops: 3 },
  ];
  const rows: Array<{
    name: string;
    hops: number;
    p50: number;
    p99: number;
    n: number;
    mbps: number;
  }> = [];
  for (const c of configs) {
    const proxy = c.hops === 0 ? null : await startHops(up.url, c.hops);
    const url = proxy?.url ?? up.url;
    const samples = await latency(url);
    const mbps = process.env.SKIP_THROUGHPUT ? Number.NaN : await throughput(url);
    if (proxy !== null) await stopHops(proxy.child);
    rows.push({
      name: c.name,
      hops: c.hops,
      p50: median(samples),
      p99: quantile(samples, 0.99),
      n: samples.length,
      mbps,
    });
  }
  await up.close();
  const direct = rows[0]!;
  printTable(
    ['path', 'events', 'p50 ms', 'p99 ms', 'added p50/hop', 'added p99/hop', 'MB/s', 'vs direct'],
    rows.map((r) => [
      r.name,
      String(r.n),
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      r.hops === 0 ? '-' : ((r.p50 - direct.p50) / r.hops).toFixed(3),
      r.hops === 0 ? '-' : ((r.p99 - direct.p99) / r.hops).toFixed(3),
      r.mbps.toFixed(0),
      (r.mbps / direct.mbps).toFixed(2),
    ]),
  );
  const one = rows[1]!;
  const three = rows[2]!;
  // Per hop: the median of the 1-hop and 3-hop estimates.
  const p50PerHop = median([(one.p50 - direct.p50) / 1, (three.p50 - direct.p50) / 3]);
  const p99PerHop = median([(one.p99 - direct.p99) / 1, (three.p99 - direct.p99) / 3]);
  const goal = p50PerHop <= 1;
  console.log(
    `goal p50 added latency <= 1 ms per hop: ${goal ? 'met' : 'MISSED'} (${p50PerHop.toFixed(3)} ms)`,
  );
  result({
    bench: 'proxy',
    p50_added_ms_per_hop: Number(p50PerHop.toFixed(3)),
    p99_added_ms_per_hop: Number(p99PerHop.toFixed(3)),
    throughput_ratio_vs_direct: Number((one.mbps / direct.mbps).toFixed(3)),
  });
}
