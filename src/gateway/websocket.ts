import { EventEmitter } from 'node:events';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { attachWebSocket } from '../server/ws.js';
import { checkRead, type GatewayCore, planRequest, runStreamPath } from './gateway.js';
import { upstreamUrl } from './upstream.js';

/** Fields of a handshake that belong to one connection and are not forwarded as such. */
const HOP = new Set([
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'host',
  'proxy-authorization',
]);

function head(status: number, text: string, raw: string[]): string {
  const lines = [`HTTP/1.1 ${status} ${text}`];
  for (let i = 0; i + 1 < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Gateway'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Tunnels a WebSocket handshake to the upstream and, once it answers 101, the bytes both
 * ways. Frames are not parsed: subprotocols, extensions and the upstream's own pings pass
 * unchanged (WebSockets escape the total clocks that cut SSE, so nothing is added).
 */
function tunnel(
  gw: GatewayCore,
  req: IncomingMessage,
  socket: Duplex,
  first: Buffer,
  target: URL,
  url: URL,
): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP.has(name)) headers[name] = value;
  }
  headers.connection = 'Upgrade';
  headers.upgrade = req.headers.upgrade ?? 'websocket';
  const address = req.socket.remoteAddress;
  const prior = req.headers['x-forwarded-for'];
  if (address !== undefined)
    headers['x-forwarded-for'] = prior === undefined ? address : `${prior}, ${address}`;
  headers['x-forwarded-proto'] ??= 'http';
  if (req.headers.host !== undefined) headers['x-forwarded-host'] ??= req.headers.host;
  const to = new URL(upstreamUrl(target, url));
  const send = to.protocol === 'https:' ? httpsRequest : httpRequest;
  gw.counts.tunnels++;
  let counted = true;
  const release = () => {
    if (counted) gw.counts.tunnels--;
    counted = false;
  };
  socket.once('close', release);
  socket.on('error', () => {});
  const upstream = send(to, {
    method: 'GET',
    headers,
    timeout: gw.settings.upstreamHeadersTimeoutMs ?? 0,
  });
  upstream.once('timeout', () => upstream.destroy(new Error('upstream handshake timed out')));
  upstream.once('upgrade', (res: IncomingMessage, up: Socket, upHead: Buffer) => {
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    up.once('close', () => socket.destroy());
    socket.once('close', () => up.destroy());
    up.setTimeout(0);
    socket.write(head(101, res.statusMessage ?? 'Switching Protocols', res.rawHeaders));
    if (upHead.length > 0) socket.write(upHead);
    if (first.length > 0) up.write(first);
    up.pipe(socket);
    socket.pipe(up);
  });
  upstream.once('response', (res: IncomingMessage) => {
    // The upstream refused the upgrade: its answer goes back as is.
    socket.write(head(res.statusCode ?? 502, res.statusMessage ?? '', res.rawHeaders));
    res.pipe(socket);
  });
  upstream.once('error', (error: Error) => {
    if (!socket.writable) return;
    refuse(
      socket,
      502,
      'upstream-unreachable',
      `could not reach the upstream ${target.origin} for a WebSocket (${(error as { code?: string }).code ?? error.message})`,
    );
  });
  socket.once('close', () => upstream.destroy());
  upstream.end();
}

/**
 * WebSocket on a Node server: outlast's WebSocket transport for gateway runs (an upgrade to
 * `{base}/...`, or to an upstream path with a run's `lastEventId`), and every other upgrade
 * tunnelled to the upstream. Returns a function that detaches.
 */
export function attachGatewayWebSocket(gw: GatewayCore, server: Server): () => void {
  // The server's WebSocket transport listens on a hub of our own, so that only the upgrades
  // the gateway routes to it (rewritten to the run's stream path) reach it.
  const hub = new EventEmitter();
  const detach = attachWebSocket(gw.outlast, hub as unknown as Server);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, first: Buffer) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      socket.destroy();
      return;
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    };
    const p = planRequest(gw, 'GET', url, header);
    if (p.kind === 'outlast') {
      hub.emit('upgrade', req, socket, first);
      return;
    }
    if (p.kind === 'read') {
      checkRead(gw, p.runId, url.pathname).then(
        (refused) => {
          if (refused !== null) {
            refuse(socket, 404, 'unknown-stream', 'no such run on this path');
            return;
          }
          req.url = runStreamPath(gw, p.runId, url, false);
          hub.emit('upgrade', req, socket, first);
        },
        (error: unknown) => {
          gw.core.onError(error);
          socket.destroy();
        },
      );
      return;
    }
    tunnel(
      gw,
      req,
      socket,
      first,
      p.kind === 'start' || p.kind === 'pass' ? p.upstream : gw.upstream,
      url,
    );
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    detach();
  };
}
