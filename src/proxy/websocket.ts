import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ExchangeClocks } from './clocks.js';
import { cutSocket, openUpstream, scaled } from './exchange.js';
import { type FingerprintContext, getFingerprint, newExchangeId } from './fingerprints.js';
import type { HopRuntime } from './hop-runtime.js';
import {
  appendForwardedFor,
  forwardHeaders,
  type HeaderList,
  peerAddress,
  rawHead,
  rawResponse,
  setHeader,
} from './http.js';
import { blackhole } from './silent-drop.js';

/**
 * An `Upgrade` request (WebSocket) through a hop: refused with the hop's status, or tunnelled
 * byte for byte after the upstream's 101, with the WebSocket clocks (idle reset by bytes either
 * way, total from the upgrade request) instead of the HTTP ones.
 */
export function handleUpgrade(
  hop: HopRuntime,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  const knobs = hop.knobs;
  const scale = hop.scale();
  const fp = getFingerprint(knobs.fingerprint);
  const ctx: FingerprintContext = {
    clientAddress: peerAddress(socket),
    startedAt: Date.now(),
    totalMs: null,
    id: newExchangeId(),
  };
  hop.stats.tunnels++;
  socket.on('error', () => {});

  const page = (status: number): string => {
    const p = fp.errorPage(status, ctx);
    const headers: HeaderList = [...p.headers];
    for (const [n, v] of Object.entries(knobs.addResponseHeaders)) setHeader(headers, n, v);
    return rawResponse(status, headers, p.body);
  };

  if (knobs.websocket === 'refuse') {
    socket.end(page(knobs.websocketRefuseStatus));
    return;
  }

  const idle = knobs.websocketIdleMs === 'inherit' ? knobs.idleMs : knobs.websocketIdleMs;
  const total = knobs.websocketTotalMs === 'inherit' ? knobs.totalMs : knobs.websocketTotalMs;
  ctx.totalMs = scaled(total, scale);
  let upgraded = false;
  let finished = false;
  let upstreamSocket: Socket | null = null;
  hop.stats.activeTunnels++;

  const finish = (): void => {
    if (finished) return;
    finished = true;
    clocks.stop();
    hop.stats.activeTunnels--;
    upstreamReq.destroy();
  };
  const clocks = new ExchangeClocks(
    hop.timers,
    {
      idleMs: scaled(idle, scale),
      totalMs: scaled(total, scale),
      firstByteMs: scaled(knobs.firstByteMs, scale),
      totalMode: 'timer',
    },
    (kind) => {
      hop.stats.cuts[kind]++;
      const wasUpgraded = upgraded;
      finish();
      if (knobs.cut === 'silent') {
        if (upstreamSocket !== null) {
          socket.unpipe(upstreamSocket);
          upstreamSocket.unpipe(socket);
        }
        blackhole(socket, upstreamSocket);
        return;
      }
      if (wasUpgraded) {
        cutSocket(socket, knobs.cut);
        if (upstreamSocket !== null) cutSocket(upstreamSocket, knobs.cut);
      } else if (!socket.destroyed) {
        socket.end(page(knobs.timeoutStatus));
      }
    },
  );

  const headers = forwardHeaders(req.rawHeaders);
  setHeader(headers, 'connection', 'Upgrade');
  setHeader(headers, 'upgrade', String(req.headers.upgrade ?? 'websocket'));
  appendForwardedFor(headers, ctx.clientAddress);
  for (const [n, v] of fp.request(ctx)) setHeader(headers, n, v);
  for (const [n, v] of Object.entries(knobs.addRequestHeaders)) setHeader(headers, n, v);
  const upstreamReq = openUpstream(hop, req.method ?? 'GET', req.url ?? '/', headers, false);
  upstreamReq.end();

  socket.on('close', () => {
    finish();
    if (upstreamSocket !== null) upstreamSocket.destroy();
  });

  upstreamReq.on('error', () => {
    if (finished) return;
    hop.stats.upstreamErrors++;
    finish();
    if (!socket.destroyed) socket.end(page(knobs.upstreamErrorStatus));
  });

  // The upstream answered without upgrading (400, 404...): pass that answer on and close.
  upstreamReq.on('response', (ures) => {
    if (finished) {
      ures.destroy();
      return;
    }
    clocks.headersReceived();
    const out = forwardHeaders(ures.rawHeaders, [
      ...fp.hide,
      'transfer-encoding',
      'content-length',
    ]);
    for (const [n, v] of fp.response(ctx, clocks.elapsed())) setHeader(out, n, v);
    setHeader(out, 'connection', 'close');
    socket.write(rawHead(ures.statusCode ?? 502, ures.statusMessage, out));
    ures.on('data', (c: Buffer) => socket.write(c));
    ures.on('end', () => {
      finish();
      socket.end();
    });
    ures.on('error', () => {});
  });

  upstreamReq.on('upgrade', (ures, usocket, uhead) => {
    if (finished || socket.destroyed) {
      usocket.destroy();
      return;
    }
    upgraded = true;
    upstreamSocket = usocket;
    hop.track(usocket);
    usocket.on('error', () => {});
    clocks.headersReceived();
    clocks.touch();
    const out: HeaderList = [];
    for (let i = 0; i < ures.rawHeaders.length; i += 2) {
      out.push([ures.rawHeaders[i]!, ures.rawHeaders[i + 1]!]);
    }
    for (const [n, v] of fp.response(ctx, clocks.elapsed())) {
      if (!fp.hide.includes(n)) out.push([n, v]);
      else setHeader(out, n, v);
    }
    for (const [n, v] of Object.entries(knobs.addResponseHeaders)) setHeader(out, n, v);
    socket.write(rawHead(101, ures.statusMessage, out));
    if (uhead.length > 0) socket.write(uhead);
    if (head.length > 0) usocket.write(head);
    socket.on('data', () => clocks.touch());
    usocket.on('data', () => clocks.touch());
    socket.pipe(usocket);
    usocket.pipe(socket);
    usocket.on('close', () => {
      finish();
      socket.destroySoon();
    });
  });
}
