/**
 * bench:gateway's processes: `upstream` (a plain node:http SSE server that writes timestamped
 * events to every open stream on a staggered schedule) and `gateway` (createGateway in front
 * of it). Driven over IPC by bench/gateway.ts; see the method there.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway } from '../src/gateway/index.js';
import { createMemoryStore } from '../src/store/index.js';

const role = process.argv[2] as 'upstream' | 'gateway';
const arg = process.argv[3] ?? '';
const send = (m: object) => process.send?.(m);
const now = () => performance.timeOrigin + performance.now();

function stats(extra: object = {}) {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, ...extra };
}

if (role === 'upstream') {
  // Every stream gets one event per `periodMs`, the streams spread evenly over the period.
  const periodMs = Number(arg || 200);
  const streams: ServerResponse[] = [];
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    streams.push(res);
    req.once('close', () => {
      const i = streams.indexOf(res);
      if (i >= 0) streams.splice(i, 1);
    });
  });
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  let sending = false;
  let cursor = 0;
  let last = performance.now();
  setInterval(() => {
    const t = performance.now();
    const due = Math.round(((t - last) / periodMs) * streams.length);
    last = t;
    if (!sending || streams.length === 0) return;
    for (let k = 0; k < due && k < streams.length; k++) {
      cursor = (cursor + 1) % streams.length;
      streams[cursor]!.write(`data: {"t":${now()}}\n\n`);
    }
  }, 2).unref();
  process.on('message', (m: { type: string; id?: number; on?: boolean }) => {
    if (m.type === 'send') sending = m.on === true;
    if (m.type === 'end-all') for (const s of streams.splice(0)) s.end();
    if (m.type === 'stats')
      send({ type: 'stats', id: m.id, stats: stats({ connections: streams.length }) });
    if (m.type === 'exit') process.exit(0);
  });
  server.listen(0, '127.0.0.1', () =>
    send({ type: 'ready', port: (server.address() as AddressInfo).port }),
  );
} else {
  const gateway = createGateway({
    upstream: arg,
    maxRuns: 100_000,
    maxConnections: 100_000,
    store: createMemoryStore({
      maxEventsPerStream: 100,
      maxStreams: 100_000,
      maxJobRecords: 100_000,
    }),
    onError: () => {},
  });
  const server = createServer(gateway.handleNode);
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  process.on('message', (m: { type: string; id?: number }) => {
    if (m.type === 'stats') send({ type: 'stats', id: m.id, stats: stats(gateway.stats()) });
    if (m.type === 'exit') process.exit(0);
  });
  server.listen(0, '127.0.0.1', () =>
    send({ type: 'ready', port: (server.address() as AddressInfo).port }),
  );
}
