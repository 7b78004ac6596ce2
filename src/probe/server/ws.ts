import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { intParam, type ProbeCore } from './core.js';
import type { Refusal } from './guard.js';
import { requestToken } from './guard.js';

function refuse(socket: Duplex, status: number, code: string, message: string, extra = ''): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason =
    status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}

function refuseWith(socket: Duplex, r: Refusal): void {
  refuse(
    socket,
    r.status,
    r.code,
    r.message,
    r.retryAfterSeconds === undefined ? '' : `retry-after: ${r.retryAfterSeconds}\r\n`,
  );
}

/**
 * The WebSocket equivalents of the probe streams at `{base}/ws?mode=...`: `silence` (an open
 * frame, then nothing until `ms`), `chatty` (a frame every `heartbeat`), `marker` (one frame
 * after `after`). Frames are JSON text `{"type","t"}`; the server never sends protocol pings,
 * since a ping is traffic that would reset the very idle clock being measured.
 */
export function attachProbeWebSocket(core: ProbeCore, server: Server): () => void {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (core.route(url.pathname) !== 'ws') return;
    socket.on('error', () => {});
    const refused = core.guard.admit(
      requestToken(url, req.headers.authorization ?? null),
      req.socket.remoteAddress ?? 'unknown',
    );
    if (refused !== null) {
      refuseWith(socket, refused);
      return;
    }
    const mode = url.searchParams.get('mode') ?? 'silence';
    if (!['silence', 'chatty', 'marker'].includes(mode)) {
      refuse(socket, 400, 'bad-query', `mode=${mode}: use silence, chatty or marker`);
      return;
    }
    const ms = intParam(url, 'ms', 60_000, 0, core.o.maxHoldMs);
    const hb = intParam(url, 'heartbeat', 1000, core.o.minIntervalMs, core.o.maxHoldMs);
    const after = intParam(url, 'after', typeof ms === 'number' ? ms : 0, 0, core.o.maxHoldMs);
    for (const v of [ms, hb, after]) {
      if (typeof v === 'string') {
        refuse(socket, 400, 'bad-query', v);
        return;
      }
    }
    const slot = core.guard.acquire();
    if (typeof slot !== 'function') {
      refuseWith(socket, slot);
      return;
    }
    socket.once('close', slot);
    wss.handleUpgrade(req, socket, head, (ws) => {
      run(ws, mode, ms as number, hb as number, after as number, core.o.now, slot);
    });
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    wss.close();
  };
}

function run(
  ws: WebSocket,
  mode: string,
  ms: number,
  heartbeat: number,
  after: number,
  now: () => number,
  release: () => void,
): void {
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const send = (type: string): void => {
    if (ws.readyState === 1) ws.send(JSON.stringify({ type, t: now() }));
  };
  const stop = (): void => {
    for (const t of timers) clearTimeout(t);
    timers.length = 0;
    release();
  };
  ws.on('close', stop);
  ws.on('error', stop);
  send('open');
  const started = performance.now();
  const close = (): void => {
    send('end');
    ws.close(1000, 'probe done');
  };
  if (mode === 'chatty') {
    let i = 1;
    const tick = (): void => {
      if (i * heartbeat > ms) {
        close();
        return;
      }
      timers.push(
        setTimeout(
          () => {
            send('hb');
            i++;
            tick();
          },
          Math.max(0, started + i * heartbeat - performance.now()),
        ),
      );
    };
    tick();
    return;
  }
  if (mode === 'marker') {
    timers.push(
      setTimeout(() => {
        send('marker');
        close();
      }, after),
    );
    return;
  }
  timers.push(setTimeout(close, ms));
}
