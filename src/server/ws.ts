import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { admitUpgrade, coreOf, openSocket, type SocketPort } from './adapters/socket.js';
import { errorReply, type Reply } from './http.js';
import { nodeIncoming } from './node.js';
import type { Outlast } from './outlast.js';

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
}

/**
 * Serves `{base}/streams/{id}` and `{base}/jobs/{id}/events` over WebSocket on a Node server
 * (plain `node:http`, Express's or Fastify's underlying server, `@hono/node-server`).
 * Upgrade requests outside the base path are left to other listeners. Returns a function
 * that detaches.
 */
export function attachWebSocket(outlast: Outlast, server: Server): () => void {
  const core = coreOf(outlast);
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: core.o.maxWsFrameBytes,
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    admitUpgrade(core, nodeIncoming(req, undefined, url)).then(
      (result) => {
        if (result === null) return;
        if ('status' in result) {
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
