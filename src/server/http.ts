import type { OutlastErrorCode } from '../errors.js';
import type { CorsOptions } from './options.js';

/** A request as the core sees it: what every adapter (Node, fetch, upgrade) can provide. */
export interface Incoming {
  readonly method: string;
  readonly url: URL;
  /** A header value (name in lower case), or `null`. */
  header(name: string): string | null;
  /** The request as a Web `Request` (built lazily by adapters that do not have one). */
  request(): Request;
  /** The body, or `null` when it is larger than `limit` bytes. */
  body(limit: number): Promise<Uint8Array | null>;
  /** Calls `listener` once if the client goes away before the reply is sent. */
  onClose(listener: () => void): void;
}

/** Where a streaming reply writes; filled by each adapter. */
export interface ByteSink {
  write(chunk: Uint8Array): void;
  /** Ends the response cleanly. */
  end(): void;
  /** Drops the connection at once. */
  destroy(): void;
  /** Bytes queued and not yet taken by the client. */
  buffered(): number;
  /** Resolves once the queue has drained or the connection is gone. */
  drain(): Promise<void>;
  /** Calls `listener` once when the client goes away. */
  onClose(listener: () => void): void;
}

/** What the core answers; adapters turn it into their runtime's response. */
export type Reply =
  | { status: number; headers: Record<string, string>; body: string | null; stream?: undefined }
  | { status: 200; headers: Record<string, string>; body: null; stream: (sink: ByteSink) => void };

/** A JSON reply. */
export function jsonReply(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
  };
}

/** The protocol's error body `{"error":{"code","message"}}`. */
export function errorReply(
  status: number,
  code: OutlastErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return jsonReply(status, { error: { code, message } }, headers);
}

/** A reply without body. */
export function emptyReply(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: null };
}

const EXPOSED = 'Outlast-Heartbeat, Outlast-Max-Stream, Retry-After';
const ALLOWED_HEADERS = 'Last-Event-ID, Content-Type, Authorization';

function allowedOrigin(cors: CorsOptions, origin: string): string | null {
  const rule = cors.origin ?? '*';
  if (rule === '*') return cors.credentials === true ? origin : '*';
  if (typeof rule === 'function') return rule(origin) ? origin : null;
  if (Array.isArray(rule)) return rule.includes(origin) ? origin : null;
  return rule === origin ? origin : null;
}

/** CORS headers for a response to `origin`, or none when not allowed. */
export function corsHeaders(
  cors: CorsOptions | null,
  origin: string | null,
  preflight: boolean,
): Record<string, string> {
  if (cors === null || origin === null) return {};
  const allowed = allowedOrigin(cors, origin);
  if (allowed === null) return {};
  const headers: Record<string, string> = {
    'access-control-allow-origin': allowed,
    'access-control-expose-headers': EXPOSED,
  };
  if (allowed !== '*') headers.vary = 'Origin';
  if (cors.credentials === true) headers['access-control-allow-credentials'] = 'true';
  if (preflight) {
    headers['access-control-allow-methods'] = 'GET, POST, DELETE, OPTIONS';
    headers['access-control-allow-headers'] = ALLOWED_HEADERS;
    headers['access-control-max-age'] = String(cors.maxAgeSeconds ?? 600);
  }
  return headers;
}
