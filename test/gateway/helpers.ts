import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { createParser } from '../../src/wire/index.js';
import type { SseEvent } from '../../src/wire/types.js';

/** A Node upstream whose routes the test writes; counts requests and closes per path. */
export interface TestUpstream {
  url: string;
  server: Server;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  /** Requests whose client (the gateway) went away before the answer ended, by path. */
  aborted: Map<string, number>;
  /** Request headers seen last, by path. */
  seen: Map<string, IncomingMessage['headers']>;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** Starts a Node upstream on 127.0.0.1:0. */
export async function startTestUpstream(routes: Record<string, Route>): Promise<TestUpstream> {
  const hits = new Map<string, number>();
  const aborted = new Map<string, number>();
  const seen = new Map<string, IncomingMessage['headers']>();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    seen.set(path, req.headers);
    res.once('close', () => {
      if (!res.writableFinished) aborted.set(path, (aborted.get(path) ?? 0) + 1);
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const route = routes[path];
      if (route === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"detail":"Not Found"}');
        return;
      }
      route(req, res, Buffer.concat(chunks));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    hits,
    aborted,
    seen,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A gateway on a real Node server at 127.0.0.1:0, with scaled clocks. */
export interface TestGateway {
  gateway: Gateway;
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startTestGateway(options: GatewayOptions): Promise<TestGateway> {
  const gateway = createGateway({
    heartbeatTickMs: 10,
    minHeartbeatMs: 20,
    heartbeatMs: 100,
    minMaxStreamMs: 50,
    onError: () => {},
    ...options,
  });
  const server = createServer(gateway.handleNode);
  const detach = gateway.attachWebSocket(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    gateway,
    server,
    url: `http://127.0.0.1:${port}`,
    async close() {
      detach();
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One SSE response read with the wire parser: events, comments, status, headers, how it ended. */
export interface SseRead {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  firstByteMs: number | null;
  end: 'eof' | 'error' | 'stopped';
}

/**
 * Reads an SSE response until it ends or `stop(events)` says so (then the request is aborted:
 * the client leaves).
 */
export async function readSse(
  url: string,
  init: RequestInit = {},
  stop: (events: SseEvent[]) => boolean = () => false,
): Promise<SseRead> {
  const started = Date.now();
  const abort = new AbortController();
  const res = await fetch(url, {
    ...init,
    signal: abort.signal,
    headers: { accept: 'text/event-stream', ...(init.headers as Record<string, string>) },
  });
  const out: SseRead = {
    status: res.status,
    headers: res.headers,
    events: [],
    comments: [],
    firstByteMs: null,
    end: 'eof',
  };
  const parser = createParser({
    onEvent: (e) => out.events.push(e),
    onComment: (c) => out.comments.push(c),
  });
  if (res.body === null) return out;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out.firstByteMs ??= Date.now() - started;
      parser.feed(value);
      if (stop(out.events)) {
        out.end = 'stopped';
        abort.abort();
        break;
      }
    }
  } catch {
    out.end = 'error';
  }
  return out;
}

/** User events of a read (outlast's control events left out). */
export function userEvents(read: SseRead): SseEvent[] {
  return read.events.filter((e) => !e.type.startsWith('outlast.'));
}

/** An SSE upstream route: `count` events `every` ms, with optional ids and types. */
export function sseRoute(
  count: number,
  every: number,
  opts: { ids?: boolean; type?: string; firstAfter?: number } = {},
): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let i = 0;
    const tick = () => {
      if (res.destroyed) return;
      if (i === count) {
        res.end();
        return;
      }
      i++;
      const id = opts.ids === true ? `id: up-${i}\n` : '';
      const type = opts.type === undefined ? '' : `event: ${opts.type}\n`;
      res.write(`${id}${type}data: {"n":${i}}\n\n`);
      setTimeout(tick, every);
    };
    setTimeout(tick, opts.firstAfter ?? every);
  };
}

/** Waits until the gateway holds nothing: no run, no reader, no passed-through request, no tunnel. */
export async function expectIdle(gateway: Gateway): Promise<void> {
  const { until } = await import('../helpers/server.js');
  await until(
    () => {
      const s = gateway.stats();
      return s.runs === 0 && s.connections === 0 && s.passing === 0 && s.tunnels === 0;
    },
    `gateway idle (${JSON.stringify(gateway.stats())})`,
  );
}
