/**
 * bench:redis's load generator: one process holding many SSE readers on raw `net` sockets (far
 * lighter than the server under test). Every reader counts the events it gets (occurrences of
 * an `id:` line); `sample` of them also parse the `t=<ms>` stamp in each event for
 * publish-to-receipt latency (clocks of the same machine). Driven over IPC by bench/redis.ts.
 */
import { connect, type Socket } from 'node:net';

interface Start {
  type: 'start';
  port: number;
  count: number;
  sample: number;
}

const now = () => performance.timeOrigin + performance.now();
const counts: number[] = [];
const sockets: Socket[] = [];
const latencies: number[] = [];
let expected = Number.POSITIVE_INFINITY;
let waiting = false;
const STAMP = /t=([\d.]+);/g;

function check(): void {
  if (!waiting) return;
  for (const c of counts) if (c < expected) return;
  waiting = false;
  process.send!({ type: 'done', at: now() });
}

function open(m: Start, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: m.port });
    sockets.push(socket);
    counts[index] = 0;
    const sampled = index < m.sample;
    let carry = '';
    let headers = false;
    socket.setEncoding('latin1');
    socket.once('connect', () =>
      socket.write('GET /outlast/streams/bench?heartbeat=60000 HTTP/1.1\r\nHost: bench\r\n\r\n'),
    );
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      if (!headers) {
        headers = true;
        resolve();
      }
      // `\nid:` may straddle two chunks: keep the last 3 characters for the next one.
      const text = carry + chunk;
      let n = 0;
      for (let at = text.indexOf('\nid:'); at !== -1; at = text.indexOf('\nid:', at + 4)) n++;
      carry = text.slice(-3);
      counts[index]! += n;
      if (sampled) {
        const t = now();
        STAMP.lastIndex = 0;
        for (let match = STAMP.exec(chunk); match !== null; match = STAMP.exec(chunk)) {
          latencies.push(t - Number(match[1]));
        }
      }
      if (waiting) check();
    });
  });
}

process.on('message', async (m: Start | { type: 'expect'; more: number } | { type: 'report' }) => {
  if (m.type === 'start') {
    for (let i = 0; i < m.count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, m.count - i) }, (_, k) => open(m, i + k)),
      );
    }
    process.send!({ type: 'connected' });
  } else if (m.type === 'expect') {
    latencies.length = 0;
    expected = Math.min(...counts) + m.more;
    waiting = true;
    check();
  } else if (m.type === 'report') {
    process.send!({ type: 'report', latencies });
    for (const s of sockets) s.destroy();
  }
});
