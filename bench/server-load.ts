/**
 * bench:server's load generator: one process holding many SSE connections on raw `net`
 * sockets (no HTTP client objects: the generator must stay far lighter than the server), bound
 * to its own loopback source address so ephemeral ports do not run out. It counts heartbeat
 * bytes and, for fan-out, the publish-to-receipt latency of every delivery
 * (`t=<ms>;r=<round>` inside the data, clocks of the same machine).
 */
import { connect, type Socket } from 'node:net';

interface Start {
  type: 'start';
  port: number;
  path: string;
  count: number;
  localAddress: string;
}

let sockets: Socket[] = [];
let heartbeatBytes = 0;
/** Per round: deliveries seen and the slowest one, in this process. */
const rounds = new Map<number, { got: number; max: number }>();
const latencies: number[] = [];
const TOKEN = /t=([\d.]+);r=(\d+)/g;

function now(): number {
  return performance.timeOrigin + performance.now();
}

function open(m: Start, index: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: m.port, localAddress: m.localAddress });
    let headers = false;
    let tail = '';
    socket.setEncoding('latin1');
    socket.once('connect', () => {
      socket.write(
        `GET ${m.path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\nX-Conn: ${index}\r\n\r\n`,
      );
    });
    socket.on('data', (text: string) => {
      if (!headers) {
        headers = true;
        resolve(socket);
      }
      if (text.includes(': hb')) heartbeatBytes += text.length;
      if (!text.includes('t=') && tail === '') return;
      const all = tail + text;
      const cut = all.lastIndexOf('\n');
      tail = cut === -1 ? all : all.slice(cut + 1);
      const body = cut === -1 ? '' : all.slice(0, cut);
      const at = now();
      TOKEN.lastIndex = 0;
      for (let match = TOKEN.exec(body); match !== null; match = TOKEN.exec(body)) {
        const r = Number(match[2]);
        const latency = at - Number(match[1]);
        latencies.push(latency);
        const entry = rounds.get(r) ?? { got: 0, max: 0 };
        entry.got++;
        entry.max = Math.max(entry.max, latency);
        rounds.set(r, entry);
        if (entry.got === sockets.length) {
          process.send?.({ type: 'round-done', round: r, maxLatencyMs: entry.max });
        }
      }
    });
    socket.on('error', () => resolve(null));
    socket.on('close', () => resolve(null));
  });
}

async function start(m: Start): Promise<void> {
  const batch = 500;
  let failed = 0;
  for (let i = 0; i < m.count; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, m.count - i) }, (_, k) => open(m, i + k)),
    );
    for (const s of opened) {
      if (s === null) failed++;
      else sockets.push(s);
    }
  }
  process.send?.({ type: 'connected', count: sockets.length, failed });
}

process.on('message', (m: Start | { type: 'report' } | { type: 'close' }) => {
  if (m.type === 'start') void start(m);
  else if (m.type === 'report') {
    process.send?.({
      type: 'report',
      alive: sockets.filter((s) => !s.destroyed).length,
      heartbeatBytes,
      latencies,
    });
    latencies.length = 0;
  } else if (m.type === 'close') {
    for (const s of sockets) s.destroy();
    sockets = [];
    process.send?.({ type: 'closed' });
  }
});
process.on('disconnect', () => process.exit(0));
