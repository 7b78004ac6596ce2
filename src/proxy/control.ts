import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isOutlastError, OutlastError } from '../errors.js';
import { presets } from './presets.js';
import type { ChaosProxy } from './proxy.js';

/** The running control API. */
export interface ControlServer {
  /** `http://host:port` of the API. */
  url: string;
  /** Stops it. */
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new OutlastError('invalid-option', 'request body over 64 KiB');
    parts.push(chunk);
  }
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new OutlastError('invalid-option', 'the body is not JSON; send a JSON object of knobs');
  }
}

/**
 * Routes (JSON in and out), toxiproxy-style:
 * - `GET /` and `GET /hops`: time scale, every hop's knobs and counters;
 * - `GET /hops/:hop` (index or name); `PUT /hops/:hop` with some knobs changes them;
 *   `PUT /hops` changes every hop; `POST /hops/:hop/reset` returns it to its preset;
 * - `PUT /time-scale` with `{"timeScale": 0.01}`; `GET /presets`.
 */
async function route(proxy: ChaosProxy, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const parts = path.split('/').filter((p) => p !== '');
  const write = method === 'PUT' || method === 'PATCH' || method === 'POST';
  if (parts.length === 0 || (parts[0] === 'hops' && parts.length === 1 && method === 'GET')) {
    if (method !== 'GET') return send(res, 405, { error: { code: 'method', message: 'use GET' } });
    return send(res, 200, proxy.info());
  }
  if (parts[0] === 'presets' && method === 'GET') return send(res, 200, presets);
  if (parts[0] === 'time-scale') {
    if (write) {
      const body = (await readJson(req)) as { timeScale?: unknown };
      proxy.timeScale = body.timeScale as number;
    }
    return send(res, 200, { timeScale: proxy.timeScale });
  }
  if (parts[0] === 'hops' && parts.length === 1 && write) {
    proxy.set((await readJson(req)) as object);
    return send(res, 200, proxy.info());
  }
  if (parts[0] === 'hops' && parts.length >= 2) {
    const id = decodeURIComponent(parts[1]!);
    const hop = proxy.hop(id);
    const index = proxy.hops.indexOf(hop);
    if (parts.length === 3 && parts[2] === 'reset' && method === 'POST') hop.reset();
    else if (parts.length === 2 && write) hop.set((await readJson(req)) as object);
    else if (parts.length !== 2 || method !== 'GET') {
      return send(res, 404, {
        error: { code: 'not-found', message: `no route ${method} ${path}` },
      });
    }
    return send(res, 200, hop.info(index));
  }
  send(res, 404, {
    error: {
      code: 'not-found',
      message: `no route ${method} ${path}; routes: GET /, GET|PUT /hops, GET|PUT /hops/:hop, POST /hops/:hop/reset, PUT /time-scale, GET /presets`,
    },
  });
}

/** Starts the control API of a proxy on `host:port` (loopback by default). */
export async function startControl(
  proxy: ChaosProxy,
  host: string,
  port: number,
): Promise<ControlServer> {
  const server = createServer((req, res) => {
    route(proxy, req, res).catch((error: unknown) => {
      const status = isOutlastError(error, 'unknown-hop') ? 404 : 400;
      const code = isOutlastError(error) ? error.code : 'invalid-option';
      send(res, status, { error: { code, message: (error as Error).message } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new OutlastError(
          'proxy-listen-failed',
          `control API cannot listen on ${host}:${port}: ${error.message}`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
