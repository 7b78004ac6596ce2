import type { CloseInfo, TransportName } from './transport.js';

/**
 * Why a connection was lost (docs/protocol.md, "Cut reports"; docs/client.md, "Causes").
 * - `intermediary-error`: an error status before any stream (502, 503, 504, 524...): some hop
 *   answered instead of the server; `status` and `server` say which.
 * - `server-error`: an error status from the server itself (its JSON error body names a
 *   code: a 404 `unknown-stream`, a 503 `overloaded`), not blamed on a hop.
 * - `mid-stream-eof`: the stream ended cleanly without an end or rotate notice (a clock
 *   fired after headers and the hop closed the connection).
 * - `stall`: no byte within k heartbeats (silent drop, or a buffering hop).
 * - `network-error`: the request or socket failed (refused, reset).
 * - `server-rotation`: the server ended it on purpose (`outlast.rotate`); resumed at once.
 * - `client-abort`: this client closed it.
 */
export type CutCause =
  | 'intermediary-error'
  | 'server-error'
  | 'mid-stream-eof'
  | 'stall'
  | 'network-error'
  | 'server-rotation'
  | 'client-abort';

/** One lost connection, as reported to listeners and (batched) to the server. */
export interface CutReport {
  cause: CutCause;
  transport: TransportName;
  /** When it happened, Unix ms. */
  atMs: number;
  /** Since the connection opened (its response headers, or the socket), or since the request
   * when it never opened, ms. */
  sinceOpenMs: number;
  /** Since the last byte (or since the open, when none came), ms. */
  sinceLastByteMs: number;
  /** Since the request was sent, ms: what a total-duration clock measures. */
  sinceRequestMs: number;
  /** HTTP status of an error answer. */
  status?: number;
  /** `server` header of that answer: who answered (`cloudflare`, `envoy`, `awselb/2.0`). */
  server?: string;
  /** The origin of the stream. */
  origin?: string;
  /** Whether the connection had opened (headers or socket) before it was lost. */
  opened: boolean;
  /** Body bytes (or frames' characters) received on this connection. */
  bytes: number;
  /** Events delivered on this connection. */
  events: number;
  /** Heartbeats received on this connection. */
  heartbeats: number;
  /** The heartbeat in effect, ms (`null`: none known). */
  heartbeatMs: number | null;
  /** A short description. */
  message?: string;
  /**
   * The request may have ridden a kept-alive connection an earlier response left (it followed
   * a server rotation over HTTP): a clock counting the connection's age started before the
   * request, so `sinceRequestMs` is no measure of it.
   */
  reusedConnection?: boolean;
}

/** The cause of a transport's own close (stall, rotation and aborts are decided elsewhere). */
export function classifyClose(info: CloseInfo, opened: boolean): CutCause {
  switch (info.kind) {
    case 'status':
      // A JSON error body with a code is the server's own answer (passed on by the hops).
      return info.code !== undefined && info.code !== null ? 'server-error' : 'intermediary-error';
    case 'content-type':
      return 'intermediary-error';
    case 'refused':
      // An upgrade answered with a success or a redirect (a 200 page) was not refused by a
      // hop: the server answered it as a plain request, since nothing routes WebSocket there.
      if (info.status !== undefined && info.status < 400) return 'server-error';
      return info.status !== undefined ? 'intermediary-error' : 'network-error';
    case 'eof':
      return opened ? 'mid-stream-eof' : 'network-error';
    case 'server-error':
      return 'mid-stream-eof';
    case 'limit':
      // The client stopped reading on purpose: a line or an event exceeded its limit.
      return 'client-abort';
    default:
      return 'network-error';
  }
}

/** The JSON the server's `/reports` endpoint takes for one cut. */
export function reportBody(r: CutReport): Record<string, unknown> {
  const out: Record<string, unknown> = {
    cause: r.cause,
    transport: r.transport,
    atMs: Math.round(r.atMs),
    sinceOpenMs: Math.round(r.sinceOpenMs),
    sinceLastByteMs: Math.round(r.sinceLastByteMs),
  };
  if (r.status !== undefined) out.status = r.status;
  if (r.server !== undefined) out.server = r.server;
  if (r.origin !== undefined) out.origin = r.origin;
  return out;
}
