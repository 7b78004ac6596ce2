/**
 * bench:server's server under test, in a process of its own: `outlast`, `better-sse` or a bare
 * `node:http` SSE handler, all with the same heartbeat interval, all on one stream/channel.
 * With `--workers W` (outlast only) a node:cluster primary forks W workers sharing the port.
 * Driven over IPC by bench/server.ts; see the method there.
 */
import cluster from 'node:cluster';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createChannel, createSession } from 'better-sse';
import { createOutlast } from '../src/server/index.js';
import { createMemoryStore } from '../src/store/index.js';

type Impl = 'outlast' | 'better-sse' | 'bare';
const impl = process.argv[2] as Impl;
const heartbeatMs = Number(process.argv[3] ?? 2000);
const workers = Number(process.argv[4] ?? 0);

/** What a target reports. */
export interface TargetStats {
  rss: number;
  heapUsed: number;
  connections: number;
  cpuMs: number;
  eldP99Ms: number;
  eldMaxMs: number;
}

function serve(): {
  port: () => number;
  connections: () => number;
  publish: (payload: string) => void;
} {
  const server = createServer();
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  let connections: () => number;
  let publish: (payload: string) => void;
  if (impl === 'outlast') {
    const outlast = createOutlast({
      heartbeatMs,
      minHeartbeatMs: 100,
      maxConnections: 1_000_000,
      maxConnectionsPerStream: 1_000_000,
      store: createMemoryStore({ maxEventsPerStream: 100 }),
    });
    void outlast.publish('bench', { event: 'ready', data: 'x' });
    server.on('request', outlast.handleNode);
    connections = () => outlast.connections;
    publish = (payload) => void outlast.publish('bench', { data: payload });
  } else if (impl === 'better-sse') {
    const channel = createChannel();
    server.on('request', (req, res) => {
      createSession(req, res, { keepAlive: heartbeatMs }).then((session) =>
        channel.register(session),
      );
    });
    connections = () => channel.sessionCount;
    publish = (payload) => channel.broadcast(payload, 'message');
  } else {
    const open = new Set<ServerResponse>();
    server.on('request', (req, res) => {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
      });
      res.write(': ok\n\n');
      open.add(res);
      req.on('close', () => open.delete(res));
    });
    // A bare handler done right: one timer for all connections.
    setInterval(() => {
      for (const res of open) res.write(': hb\n');
    }, heartbeatMs);
    connections = () => open.size;
    publish = (payload) => {
      const frame = `data: ${payload}\n\n`;
      for (const res of open) res.write(frame);
    };
  }
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  return { port: () => (server.address() as AddressInfo | null)?.port ?? 0, connections, publish };
}

function stats(
  cpuFrom: NodeJS.CpuUsage,
  eld: ReturnType<typeof monitorEventLoopDelay>,
): TargetStats {
  // CPU and event-loop delay first: the forced GCs below only serve the memory figures.
  const cpu = process.cpuUsage(cpuFrom);
  const eldP99Ms = eld.percentile(99) / 1e6;
  const eldMaxMs = eld.max / 1e6;
  globalThis.gc?.();
  globalThis.gc?.();
  const memory = process.memoryUsage();
  return {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    connections: 0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    eldP99Ms,
    eldMaxMs,
  };
}

type Command =
  | { type: 'stats'; id: number }
  | { type: 'window' }
  | { type: 'publish'; round: number };

function worker(send: (message: unknown) => void, on: (fn: (m: Command) => void) => void): void {
  const target = serve();
  let cpuFrom = process.cpuUsage();
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const readyCheck = setInterval(() => {
    if (target.port() !== 0) {
      clearInterval(readyCheck);
      send({ type: 'ready', port: target.port() });
    }
  }, 10);
  on((m) => {
    if (m.type === 'window') {
      // Starts a measurement window: CPU and event-loop delay from now on.
      cpuFrom = process.cpuUsage();
      eld.reset();
    } else if (m.type === 'stats') {
      send({
        type: 'stats',
        id: m.id,
        stats: { ...stats(cpuFrom, eld), connections: target.connections() },
      });
    } else if (m.type === 'publish') {
      // Stamped here, in the server process, right before the publish call. All three hand
      // the event to every socket synchronously, so the call's duration is the server's cost.
      const t = performance.now();
      target.publish(`t=${performance.timeOrigin + t};r=${m.round}`);
      send({
        type: 'published',
        round: m.round,
        ms: performance.now() - t,
        connections: target.connections(),
      });
    }
  });
}

if (workers > 0 && cluster.isPrimary) {
  // The primary only relays: it forks the workers and sums what they report.
  const forks = Array.from({ length: workers }, () => cluster.fork());
  let ready = 0;
  const pending = new Map<number, TargetStats[]>();
  for (const w of forks) {
    w.on('message', (m: { type: string; port?: number; id?: number; stats?: TargetStats }) => {
      if (m.type === 'ready' && ++ready === workers)
        process.send?.({ type: 'ready', port: m.port });
      if (m.type === 'published') process.send?.(m);
      if (m.type === 'stats') {
        const list = pending.get(m.id!) ?? [];
        list.push(m.stats!);
        pending.set(m.id!, list);
        if (list.length === workers) {
          pending.delete(m.id!);
          const sum = (k: keyof TargetStats) => list.reduce((a, s) => a + s[k], 0);
          process.send?.({
            type: 'stats',
            id: m.id,
            stats: {
              rss: sum('rss'),
              heapUsed: sum('heapUsed'),
              connections: sum('connections'),
              cpuMs: sum('cpuMs'),
              eldP99Ms: Math.max(...list.map((s) => s.eldP99Ms)),
              eldMaxMs: Math.max(...list.map((s) => s.eldMaxMs)),
            } satisfies TargetStats,
          });
        }
      }
    });
  }
  process.on('message', (m: Command) => {
    for (const w of forks) w.send(m);
  });
  process.on('disconnect', () => process.exit(0));
} else {
  worker(
    (m) => process.send?.(m),
    (fn) => process.on('message', fn),
  );
  process.on('disconnect', () => process.exit(0));
}
