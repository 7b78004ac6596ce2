import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { EndReason } from '../metrics/types.js';
import type { GapInfo, StoredEvent } from '../store/types.js';
import type { ServerCore } from './core.js';
import {
  type OpenInfo,
  WS_END,
  WS_ROTATE,
  wsError,
  wsEvent,
  wsGap,
  wsHeartbeat,
  wsOpen,
} from './frames.js';
import { corsHeaders, errorReply, type Reply } from './http.js';
import { nodeIncoming } from './node.js';
import type { Outlast } from './outlast.js';
import { parseStreamQuery, type StreamParams } from './query.js';
import { routeSegments } from './routes.js';
import { Session, type Transport } from './session.js';

const OPEN = 1;
const TEXT = { binary: false } as const;

/** JSON frames over a `ws` socket (docs/protocol.md, "WebSocket"). */
export class WsTransport implements Transport {
  readonly name = 'ws' as const;

  constructor(private readonly ws: WebSocket) {}

  private send(frame: string | Uint8Array): void {
    // Bytes shared by every subscriber go out as text frames without a copy per socket.
    if (this.ws.readyState === OPEN) this.ws.send(frame, TEXT);
  }

  open(info: OpenInfo): void {
    this.send(wsOpen(info));
  }

  gap(gap: GapInfo): void {
    this.send(wsGap(gap));
  }

  event(event: StoredEvent): void {
    this.send(wsEvent(event));
  }

  heartbeat(now: number): void {
    this.send(wsHeartbeat(now));
  }

  rotate(): void {
    this.send(WS_ROTATE);
    this.ws.close(1000, 'rotate');
  }

  end(): void {
    this.send(WS_END);
    this.ws.close(1000, 'end');
  }

  abort(reason: EndReason): void {
    if (reason === 'backpressure') this.ws.terminate();
    else if (reason === 'shutdown') this.ws.close(1001, 'server shutting down');
    else {
      this.send(
        wsError(
          'unknown-stream',
          'the stream was lost (evicted or its store restarted); reconnect with your last id',
        ),
      );
      this.ws.close(1011, 'stream lost; reconnect to resume');
    }
  }

  buffered(): number {
    return this.ws.bufferedAmount;
  }

  drain(): Promise<void> {
    // `ws` has no drain event of its own; catch-up is the only caller, so polling is cheap.
    return new Promise((resolve) => {
      const check = () => {
        if (this.ws.readyState !== OPEN || this.ws.bufferedAmount === 0) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function refuse(socket: Duplex, reply: Reply): void {
  const body = reply.body ?? '';
  const head = [
    `HTTP/1.1 ${reply.status} ${STATUS_TEXT[reply.status] ?? 'Error'}`,
    ...Object.entries(reply.headers).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/** A client frame, or `null` when it is not `{"type":"resume","lastEventId":string|null}`. */
function parseResume(data: RawData, isBinary: boolean): { lastEventId: string | null } | null {
  if (isBinary) return null;
  try {
    const value = JSON.parse(String(data)) as { type?: unknown; lastEventId?: unknown };
    if (value === null || typeof value !== 'object' || value.type !== 'resume') return null;
    const id = value.lastEventId;
    if (id !== null && typeof id !== 'string') return null;
    return { lastEventId: id === '' ? null : id };
  } catch {
    return null;
  }
}

function startSocket(
  core: ServerCore,
  ws: WebSocket,
  streamId: string,
  params: StreamParams,
  release: () => void,
): void {
  const session = new Session(
    core,
    new WsTransport(ws),
    streamId,
    params.heartbeatMs,
    params.maxStreamMs,
  );
  core.track(session, release);
  core.metrics.connectionOpened('ws');
  ws.on('error', () => {}); // a 'close' always follows
  ws.on('close', session.clientClosed);
  let started = false;
  const violate = (reason: string) => {
    if (ws.readyState === OPEN) ws.send(wsError('bad-frame', reason));
    ws.close(1008, reason);
    session.close('error');
  };
  const begin = (lastEventId: string | null) => {
    started = true;
    void session.start(lastEventId);
  };
  let hello: ReturnType<typeof setTimeout> | undefined;
  ws.on('message', (data, isBinary) => {
    const frame = parseResume(data, isBinary);
    if (frame === null) {
      violate('expected {"type":"resume","lastEventId":string|null}');
      return;
    }
    if (started) return; // a repeated resume frame changes nothing
    clearTimeout(hello);
    begin(frame.lastEventId);
  });
  if (params.lastEventId !== undefined) {
    begin(params.lastEventId === '' ? null : params.lastEventId);
  } else {
    hello = setTimeout(
      () => violate(`no resume frame within ${core.o.wsHelloTimeoutMs} ms`),
      core.o.wsHelloTimeoutMs,
    );
  }
}

async function admit(
  core: ServerCore,
  req: IncomingMessage,
): Promise<Reply | { streamId: string; params: StreamParams; release: () => void } | null> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const parts = routeSegments(core.o.basePath, url.pathname);
  if (parts === null) return null;
  const isStream =
    parts !== 'bad' &&
    ((parts.length === 2 && parts[0] === 'streams') ||
      (parts.length === 3 && parts[0] === 'jobs' && parts[2] === 'events'));
  if (!isStream || parts[1] === undefined || parts[1] === '') {
    return errorReply(404, 'unknown-route', `no WebSocket route at ${url.pathname}`);
  }
  const streamId = parts[1];
  const params = parseStreamQuery(url.searchParams, core.o);
  if (typeof params === 'string') return errorReply(400, 'bad-query', params);
  if (params.transport !== null && params.transport !== 'ws') {
    return errorReply(
      400,
      'bad-query',
      `an upgrade request reads with transport=ws, not ${params.transport}`,
    );
  }
  const inc = nodeIncoming(req, undefined, url);
  const denied = await core.authorize(inc, streamId, 'read');
  if (denied !== null) return denied;
  if ((await core.store.info(streamId)) === null) {
    return errorReply(404, 'unknown-stream', 'no such stream (it may have ended and expired)');
  }
  const release = core.acquire(streamId);
  if (typeof release !== 'function') return release;
  // A WebSocket rotates only when the client asks (`maxStream` in its query): upgraded
  // connections escape most total-duration clocks (the Service Connect incident), so the server-wide
  // `maxStreamMs`, meant for SSE, is not applied to them.
  if (!url.searchParams.has('maxStream')) params.maxStreamMs = null;
  return { streamId, params, release };
}

/**
 * Serves `{base}/streams/{id}` and `{base}/jobs/{id}/events` over WebSocket on a Node server
 * (plain `node:http`, Express's or Fastify's underlying server, `@hono/node-server`).
 * Upgrade requests outside the base path are left to other listeners. Returns a function
 * that detaches.
 */
export function attachWebSocket(outlast: Outlast, server: Server): () => void {
  const core = (outlast as unknown as { core: ServerCore }).core;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: core.o.maxWsFrameBytes,
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    admit(core, req).then(
      (result) => {
        if (result === null) return;
        if ('status' in result) {
          Object.assign(
            result.headers,
            corsHeaders(core.o.cors, req.headers.origin ?? null, false),
          );
          refuse(socket, result);
          return;
        }
        // A handshake `ws` rejects never reaches the callback: free the slot on close.
        let upgraded = false;
        socket.once('close', () => {
          if (!upgraded) result.release();
        });
        wss.handleUpgrade(req, socket, head, (ws) => {
          upgraded = true;
          startSocket(core, ws, result.streamId, result.params, result.release);
        });
      },
      (error: unknown) => {
        core.onError(error);
        refuse(socket, errorReply(500, 'overloaded', 'the server failed to answer; retry later'));
      },
    );
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    wss.close();
  };
}
