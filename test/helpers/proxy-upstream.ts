import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/**
 * A tiny upstream for proxy tests, on 127.0.0.1 port 0. Endpoints (query parameters in ms or
 * counts):
 * - `/sse?every=50&count=10&type=text/event-stream&accel=no&notransform=1&size=1`: an event
 *   every `every` ms (`size` bytes of payload), `count` events then end (`count=0`: forever);
 * - `/silent`: headers, then nothing, forever;
 * - `/hang`: no headers, ever;
 * - `/late?ms=100`: headers and a body after `ms`;
 * - `/bytes?n=1000`: `n` bytes with a content-length;
 * - `/chunked?n=1000&piece=100`: `n` bytes written in pieces;
 * - `/headers`: the request headers it received, as JSON;
 * - `/echo`: the request body back;
 * - `/ws`: WebSocket that sends `tick` every `every` ms (default 50) and echoes messages;
 * - `/die?after=100`: headers and some bytes, then the socket is destroyed after `after` ms.
 */
export interface Upstream {
  url: string;
  port: number;
  server: Server;
  /** Sockets the server has open now. */
  connections(): Promise<number>;
  close(): Promise<void>;
}

function q(url: URL, name: string, fallback: number): number {
  const v = url.searchParams.get(name);
  return v === null ? fallback : Number(v);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  res.on('close', () => {
    for (const t of timers) clearTimeout(t);
  });
  switch (url.pathname) {
    case '/sse': {
      const every = q(url, 'every', 50);
      const count = q(url, 'count', 10);
      const size = q(url, 'size', 1);
      const headers: Record<string, string> = {
        'content-type': url.searchParams.get('type') ?? 'text/event-stream',
        'cache-control': url.searchParams.has('notransform')
          ? 'no-cache, no-transform'
          : 'no-cache',
      };
      if (url.searchParams.has('accel')) headers['x-accel-buffering'] = 'no';
      res.writeHead(200, headers);
      res.flushHeaders();
      let n = 0;
      const tick = (): void => {
        n++;
        res.write(`data: ${n} ${'x'.repeat(size)}\n\n`);
        if (count !== 0 && n >= count) res.end();
        else later(tick, every);
      };
      later(tick, every);
      return;
    }
    case '/silent':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      return;
    case '/hang':
      return;
    case '/late':
      later(
        () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('late');
        },
        q(url, 'ms', 100),
      );
      return;
    case '/bytes': {
      const body = Buffer.alloc(q(url, 'n', 1000), 97);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
      });
      res.end(body);
      return;
    }
    case '/chunked': {
      const n = q(url, 'n', 1000);
      const piece = q(url, 'piece', 100);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < n; i += piece) res.write(Buffer.alloc(Math.min(piece, n - i), 98));
      res.end();
      return;
    }
    case '/headers': {
      const body = JSON.stringify(req.headers);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    case '/echo': {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => res.end(Buffer.concat(parts)));
      return;
    }
    case '/die':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      later(() => res.socket?.destroy(), q(url, 'after', 100));
      return;
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
  }
}

/** Starts the upstream on 127.0.0.1, port 0. */
export async function startUpstream(): Promise<Upstream> {
  const server = createServer(handle);
  server.keepAliveTimeout = 30_000;
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket: Socket, head) => {
    sockets.add(socket);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const every = q(url, 'every', 50);
      const timer = every > 0 ? setInterval(() => ws.send('tick'), every) : null;
      ws.on('message', (data) => ws.send(data));
      ws.on('close', () => {
        if (timer) clearInterval(timer);
      });
      ws.on('error', () => {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    connections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((e, n) => (e ? reject(e) : resolve(n))),
      ),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
