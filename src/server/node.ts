import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerCore } from './core.js';
import { type ByteSink, errorReply, type Incoming, onAbort, type Reply } from './http.js';
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

/** SSE bytes straight onto the Node response: real flushing, real backpressure. */
class NodeSink implements ByteSink {
  constructor(private readonly res: ServerResponse) {}

  write(chunk: Uint8Array): void {
    this.res.write(chunk);
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  buffered(): number {
    // Counts what the response queued plus what its socket has not flushed yet.
    return this.res.writableLength;
  }

  drain(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.res.writableNeedDrain || this.res.destroyed) {
        resolve();
        return;
      }
      this.res.once('drain', resolve);
      this.res.once('close', resolve);
    });
  }

  onClose(listener: () => void): void {
    // The client may have left while authorize or the first read was pending: 'close' has
    // then already been emitted, and a session waiting for it would be held forever.
    if (this.res.destroyed || this.res.closed) queueMicrotask(listener);
    else this.res.once('close', listener);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | null> {
  // Already read by framework middleware (express.json(), express.raw(), express.text(),
  // body-parser): the stream is consumed, reading it again would wait forever.
  const parsed = (req as { body?: unknown }).body;
  if (parsed instanceof Uint8Array) {
    return Promise.resolve(parsed.byteLength > limit ? null : parsed);
  }
  if (
    parsed !== undefined &&
    (req.readableEnded || typeof parsed === 'string' || !isEmpty(parsed))
  ) {
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

/** `{}`: what express.json() leaves when the content type did not match (stream unread). */
function isEmpty(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    Object.keys(value).length === 0
  );
}

/**
 * Builds the core's view of a Node request. `res` is absent for upgrade requests; `socket`
 * then tells when the client leaves.
 */
export function nodeIncoming(
  req: IncomingMessage,
  res: ServerResponse | undefined,
  url: URL,
  arrivedAt: number,
  socket?: Duplex,
): Incoming {
  let request: Request | undefined;
  const gone = new AbortController();
  const abort = () => gone.abort();
  if (res !== undefined) {
    res.once('close', () => {
      if (!res.writableFinished) abort();
    });
  } else if (socket !== undefined) {
    if (socket.destroyed) abort();
    else socket.once('close', abort);
  }
  return {
    signal: gone.signal,
    arrivedAt,
    peer: req.socket?.remoteAddress ?? null,
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
          signal: gone.signal,
        });
      }
      return request;
    },
    body: (limit) => readBody(req, limit),
    onClose: (listener) => onAbort(gone.signal, listener),
  };
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.stream !== undefined && res.destroyed) {
    // Gone since the route decided: the stream still starts, sees the closed sink at once
    // and gives back what it took.
    reply.stream(new NodeSink(res));
    return;
  }
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
    handle(core, nodeIncoming(req, res, url, core.monotonicNow())).then(
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
