import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerCore } from './core.js';
import { type ByteSink, errorReply, type Incoming, type Reply } from './http.js';
import { handle } from './routes.js';

/**
 * A Node `(req, res, next?)` handler: plain `node:http`, Express (`app.use(handler)`), Connect,
 * Fastify (`reply.hijack()` then `handler(request.raw, reply.raw)`). Requests outside the base
 * path go to `next()` when given, else get a 404.
 */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

const CRLF = new Uint8Array([13, 10]);
const framedCache = new WeakMap<Uint8Array, Uint8Array>();

/**
 * One HTTP/1.1 chunk (`{hex length}\r\n{bytes}\r\n`), built once per distinct byte array:
 * an event shared by 10 000 readers is framed once, not 10 000 times.
 */
function framed(bytes: Uint8Array): Uint8Array {
  let chunk = framedCache.get(bytes);
  if (chunk === undefined) {
    const head = new TextEncoder().encode(`${bytes.byteLength.toString(16)}\r\n`);
    chunk = new Uint8Array(head.byteLength + bytes.byteLength + 2);
    chunk.set(head, 0);
    chunk.set(bytes, head.byteLength);
    chunk.set(CRLF, head.byteLength + bytes.byteLength);
    framedCache.set(bytes, chunk);
  }
  return chunk;
}

/**
 * SSE bytes straight onto the Node response: real flushing, real backpressure.
 *
 * Once the headers are on the socket of a chunked response, events are written to the socket
 * as ready-made chunks: one write (one syscall) per event and connection, where
 * `res.write` costs four buffered writes, a cork and a deferred flush. `res.end()` still
 * writes the last chunk, so the response ends exactly as Node would end it.
 */
class NodeSink implements ByteSink {
  private readonly socket: Socket | null;

  constructor(private readonly res: ServerResponse) {
    const direct =
      res.chunkedEncoding === true &&
      res.socket !== null &&
      (res as unknown as { outputData?: unknown[] }).outputData?.length === 0;
    this.socket = direct ? res.socket : null;
  }

  write(chunk: Uint8Array): void {
    if (this.socket !== null) {
      if (!this.socket.destroyed) this.socket.write(framed(chunk));
    } else this.res.write(chunk);
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  buffered(): number {
    // What the response queued plus what its socket has not flushed yet.
    return this.socket !== null ? this.socket.writableLength : this.res.writableLength;
  }

  drain(): Promise<void> {
    const emitter = this.socket ?? this.res;
    return new Promise((resolve) => {
      if (!emitter.writableNeedDrain || emitter.destroyed) {
        resolve();
        return;
      }
      emitter.once('drain', resolve);
      emitter.once('close', resolve);
    });
  }

  onClose(listener: () => void): void {
    this.res.once('close', listener);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | null> {
  // Already parsed by framework middleware (express.json(), body-parser).
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && !(parsed instanceof Uint8Array)) {
    const text = typeof parsed === 'string' ? parsed : JSON.stringify(parsed);
    const bytes = new TextEncoder().encode(text);
    return Promise.resolve(bytes.length > limit ? null : bytes);
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** Builds the core's view of a Node request. `res` may be absent (upgrade requests). */
export function nodeIncoming(
  req: IncomingMessage,
  res: ServerResponse | undefined,
  url: URL,
): Incoming {
  let request: Request | undefined;
  return {
    method: req.method ?? 'GET',
    url,
    header(name) {
      const value = req.headers[name];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
    request() {
      if (request === undefined) {
        const headers = new Headers();
        for (const [name, value] of Object.entries(req.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
        }
        const host = req.headers.host ?? 'localhost';
        request = new Request(`http://${host}${url.pathname}${url.search}`, {
          method: req.method ?? 'GET',
          headers,
        });
      }
      return request;
    },
    body: (limit) => readBody(req, limit),
    onClose(listener) {
      res?.once('close', () => {
        if (!res.writableFinished) listener();
      });
    },
  };
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.stream !== undefined) {
    res.writeHead(reply.status, reply.headers);
    // Headers go out now, before the store is read: no first-byte clock can fire while work
    // warms up. Nagle off: each event is a packet of its own, now.
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    reply.stream(new NodeSink(res));
    return;
  }
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body ?? undefined);
}

/** The Node adapter of a server core; see {@link NodeHandler}. */
export function createNodeHandler(core: ServerCore): NodeHandler {
  return (req, res, next) => {
    // Express strips its mount path from `req.url`; `originalUrl` keeps it.
    const raw = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    let url: URL;
    try {
      url = new URL(raw, 'http://localhost');
    } catch {
      send(res, errorReply(400, 'bad-request', 'the request URL is not valid'));
      return;
    }
    handle(core, nodeIncoming(req, res, url)).then(
      (reply) => {
        if (reply !== null) send(res, reply);
        else if (next !== undefined) next();
        else send(res, errorReply(404, 'unknown-route', `no route for ${url.pathname}`));
      },
      (error: unknown) => {
        core.onError(error);
        if (!res.headersSent)
          send(res, errorReply(500, 'overloaded', 'the server failed to answer'));
        else res.destroy();
      },
    );
  };
}
