import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { admitUpgrade, coreOf, openSocket, type SocketPort } from './adapters/socket.js';
import { errorReply, type Reply } from './http.js';
import { nodeIncoming } from './node.js';
import type { Outlast } from './outlast.js';
import { routeSegments } from './routes.js';

const OPEN = 1;
const TEXT = { binary: false } as const;

/** A `ws` socket as the transport's port: shared bytes go out as text frames without a copy. */
function wsPort(ws: WebSocket): SocketPort {
  return {
    get isOpen() {
      return ws.readyState === OPEN;
    },
    send: (frame) => ws.send(frame, TEXT),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    buffered: () => ws.bufferedAmount,
  };
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
  // A client that never closes its side must not hold the socket: gone a moment after.
  const timer = setTimeout(() => socket.destroy(), 1_000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** Answers an upgrade nobody routes: 404, then the socket is gone. */
function refuseUnrouted(socket: Duplex, pathname: string): void {
  if (socket.destroyed) return;
  refuse(socket, errorReply(404, 'unknown-route', `no WebSocket route at ${pathname}`));
}

function ignoreError(): void {}

/** Options of {@link attachWebSocket}. */
export interface AttachWebSocketOptions {
  /**
   * An upgrade outside the base path is left to the server's other `upgrade` listeners; when
   * none of them has written to its socket after this long, ms, it is answered 404 and
   * destroyed (Node never times out an upgrade socket; `hardenServer` turns its timeouts
   * off). With no other listener it is answered at once.
   * @default 10_000
   */
  unroutedUpgradeMs?: number;
}

/** Default values of {@link AttachWebSocketOptions}. */
export const attachWebSocketDefaults = { unroutedUpgradeMs: 10_000 } as const;

/**
 * Serves `{base}/streams/{id}` and `{base}/jobs/{id}/events` over WebSocket on a Node server
 * (plain `node:http`, Express's or Fastify's underlying server, `@hono/node-server`).
 * Upgrade requests outside the base path are left to other listeners (see
 * {@link AttachWebSocketOptions.unroutedUpgradeMs}). Every upgrade's `Origin` is checked
 * against `cors.origin`. Returns a function that detaches.
 */
export function attachWebSocket(
  outlast: Outlast,
  server: Server,
  options: AttachWebSocketOptions = {},
): () => void {
  const core = coreOf(outlast);
  const unroutedMs = options.unroutedUpgradeMs ?? attachWebSocketDefaults.unroutedUpgradeMs;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: core.o.maxWsFrameBytes,
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const arrivedAt = core.monotonicNow();
    // Node hands an upgrade socket over with no 'error' listener: a client resetting it while
    // authorize is pending would be an uncaught ECONNRESET, the whole process down. 'close'
    // follows every error, and that is what the rest listens to.
    socket.on('error', ignoreError);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      refuse(socket, errorReply(400, 'bad-request', 'the request URL is not valid'));
      return;
    }
    if (routeSegments(core.o.basePath, url.pathname) === null) {
      // Not ours. Another listener may take it (it ran in this same emit); if none did by
      // the deadline, nobody will: answer rather than hold the socket forever.
      if (server.listenerCount('upgrade') <= 1) refuseUnrouted(socket, url.pathname);
      else {
        const timer = setTimeout(() => {
          if ((socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) {
            refuseUnrouted(socket, url.pathname);
          }
        }, unroutedMs);
        timer.unref();
        socket.once('close', () => clearTimeout(timer));
      }
      return;
    }
    admitUpgrade(core, nodeIncoming(req, undefined, url, arrivedAt, socket)).then(
      (result) => {
        if (result === null) return;
        if ('status' in result) {
          if (socket.destroyed) return;
          refuse(socket, result);
          return;
        }
        // Gone while the upgrade was decided: give the slot back, start nothing.
        if (socket.destroyed || !socket.writable) {
          result.release();
          socket.destroy();
          return;
        }
        // A handshake `ws` rejects never reaches the callback: free the slot on close.
        let upgraded = false;
        socket.once('close', () => {
          if (!upgraded) result.release();
        });
        wss.handleUpgrade(req, socket, head, (ws) => {
          upgraded = true;
          const events = openSocket(core, result, wsPort(ws));
          ws.on('error', () => {}); // a 'close' always follows
          ws.on('close', events.close);
          ws.on('message', (data, isBinary) =>
            events.message(
              Array.isArray(data) ? Buffer.concat(data) : (data as Uint8Array),
              isBinary,
            ),
          );
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
