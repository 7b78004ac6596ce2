import { readAtMost } from '../wire/bytes.js';
import type { ServerCore } from './core.js';
import { type ByteSink, errorReply, type Incoming, onAbort, type Reply } from './http.js';
import { handle } from './routes.js';

/** SSE bytes into a Web `ReadableStream`, with the queue measured in bytes. */
class StreamSink implements ByteSink {
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private closed = false;
  private isGone = false;
  private readonly closeListeners: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  readonly stream: ReadableStream<Uint8Array>;

  constructor(private readonly highWaterMark: number) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.wake(),
        cancel: () => this.gone(),
      },
      { highWaterMark, size: (chunk) => chunk.byteLength },
    );
  }

  write(chunk: Uint8Array): void {
    if (!this.closed) this.controller.enqueue(chunk);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.close();
    this.wake();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.error(new Error('outlast: client too slow, connection dropped'));
    this.wake();
  }

  buffered(): number {
    return this.closed ? 0 : this.highWaterMark - (this.controller.desiredSize ?? 0);
  }

  drain(): Promise<void> {
    if (this.closed || this.buffered() <= 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  onClose(listener: () => void): void {
    if (this.isGone) queueMicrotask(listener);
    else this.closeListeners.push(listener);
  }

  /** The reader went away (response cancelled, request aborted). */
  gone(): void {
    if (this.isGone) return;
    this.isGone = true;
    this.closed = true;
    this.wake();
    for (const listener of this.closeListeners.splice(0)) listener();
  }

  private wake(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }
}

async function readBody(request: Request, limit: number): Promise<Uint8Array | null> {
  if (Number(request.headers.get('content-length') ?? 0) > limit) return null;
  if (request.body === null) return new Uint8Array(0);
  return readAtMost(request.body, limit);
}

function toResponse(reply: Reply, maxBufferBytes: number, signal: AbortSignal): Response {
  if (reply.stream === undefined) {
    return new Response(reply.body, { status: reply.status, headers: reply.headers });
  }
  const sink = new StreamSink(maxBufferBytes);
  // Aborted already when the client left during authorize or the first read.
  onAbort(signal, () => sink.gone());
  reply.stream(sink);
  return new Response(sink.stream, { status: reply.status, headers: reply.headers });
}

/**
 * The core's view of a fetch `Request` that arrived at `arrivedAt` (monotonic ms); `peer` is
 * the remote address when the runtime tells it (Bun's `requestIP`, Deno's `remoteAddr`).
 */
export function fetchIncoming(
  request: Request,
  arrivedAt: number,
  peer: string | null = null,
): Incoming {
  return {
    signal: request.signal,
    arrivedAt,
    peer,
    method: request.method,
    url: new URL(request.url),
    header: (name) => request.headers.get(name),
    request: () => request,
    body: (limit) => readBody(request, limit),
    onClose: (listener) => onAbort(request.signal, listener),
  };
}

/**
 * The fetch-style adapter: `(request) => Promise<Response>` for Hono, Bun, Deno, Workers and
 * Next.js route handlers. SSE and long-polling; WebSocket needs the runtime's binding
 * (`attachWebSocket` on Node, `outlast/bun`, `outlast/deno`, `outlast/workers`).
 */
export function createFetchHandler(
  core: ServerCore,
): (request: Request, peer?: string | null) => Promise<Response> {
  return async (request, peer = null) => {
    const inc = fetchIncoming(request, core.monotonicNow(), peer);
    const url = inc.url;
    const reply =
      (await handle(core, inc)) ?? errorReply(404, 'unknown-route', `no route for ${url.pathname}`);
    return toResponse(reply, core.o.maxBufferBytes, request.signal);
  };
}
