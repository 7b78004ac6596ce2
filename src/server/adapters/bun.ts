/**
 * `outlast/bun`: serves every route, WebSocket included, from `Bun.serve`:
 * `Bun.serve({ port: 3000, ...bunHandlers(outlast) })`.
 * @packageDocumentation
 */
import { createFetchHandler } from '../fetch.js';
import type { Outlast } from '../outlast.js';
import type { Admission } from './socket.js';
import {
  asText,
  coreOf,
  openSocket,
  outsideBase,
  type SocketEvents,
  type SocketPort,
  upgradeFetch,
} from './socket.js';

/** What outlast keeps on each Bun socket (`ws.data`). */
export interface BunSocketData {
  admission: Admission;
  events?: SocketEvents;
}

/** The part of Bun's `ServerWebSocket` the binding uses. */
export interface BunWebSocket {
  readonly readyState: number;
  data: BunSocketData;
  /** Bun: bytes sent, -1 when queued under backpressure, 0 when dropped. */
  sendText(data: string): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  getBufferedAmount?(): number;
}

/** The part of Bun's `Server` the binding uses. */
export interface BunServer {
  upgrade(request: Request, options: { data: BunSocketData }): boolean;
  /** The client's address (the peer of `maxConnectionsPerAddress`). */
  requestIP?(request: Request): { address: string } | null;
}

/** The handlers to spread into `Bun.serve(...)`. */
export interface BunHandlers {
  fetch(request: Request, server: BunServer): Promise<Response | undefined>;
  websocket: {
    open(ws: BunWebSocket): void;
    message(ws: BunWebSocket, message: string | Uint8Array): void;
    close(ws: BunWebSocket): void;
    maxPayloadLength: number;
    perMessageDeflate: false;
    /** outlast sends its own heartbeats at the interval the client asked for. */
    sendPings: false;
  };
}

function bunPort(ws: BunWebSocket): SocketPort {
  return {
    get isOpen() {
      return ws.readyState === 1;
    },
    send(frame) {
      // 0: Bun dropped the frame (socket gone or buffer full): the stream would have a hole.
      if (ws.sendText(asText(frame)) === 0) ws.terminate();
    },
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    buffered: () => ws.getBufferedAmount?.() ?? 0,
  };
}

/**
 * `fetch` and `websocket` for `Bun.serve`. Requests outside the base path go to `fallback`
 * (default: 404 JSON).
 */
export function bunHandlers(
  outlast: Outlast,
  fallback?: (request: Request) => Response | Promise<Response>,
): BunHandlers {
  const core = coreOf(outlast);
  const serve = createFetchHandler(core);
  return {
    async fetch(request, server) {
      if (fallback !== undefined && outsideBase(core, request)) return fallback(request);
      const peer = server.requestIP?.(request)?.address ?? null;
      if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
        return serve(request, peer);
      }
      const answer = await upgradeFetch(
        core,
        request,
        (admission) => {
          if (server.upgrade(request, { data: { admission } })) return undefined;
          admission.release();
          return new Response('not a valid WebSocket handshake', { status: 400 });
        },
        peer,
      );
      return answer === null ? serve(request, peer) : answer;
    },
    websocket: {
      open(ws) {
        ws.data.events = openSocket(core, ws.data.admission, bunPort(ws));
      },
      message(ws, message) {
        ws.data.events?.message(message, typeof message !== 'string');
      },
      close(ws) {
        if (ws.data.events === undefined) ws.data.admission.release();
        else ws.data.events.close();
      },
      maxPayloadLength: core.o.maxWsFrameBytes,
      perMessageDeflate: false,
      sendPings: false,
    },
  };
}
