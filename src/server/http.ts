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
  /**
   * Calls `listener` once if the client goes away before the reply is sent; at once (in a
   * microtask) when it has already gone.
   */
  onClose(listener: () => void): void;
  /**
   * Aborted when the client goes away. Every route checks it after each await, before it
   * takes a slot or registers anything: a client that left while `authorize` or a store read
   * was pending must leave nothing behind.
   */
  readonly signal: AbortSignal;
  /** When the request arrived, on the server's monotonic clock (rotation counts from here). */
  readonly arrivedAt: number;
  /**
   * The connection's remote address as the runtime sees it (the socket's on Node); absent
   * when the adapter has none (a fetch handler). See the `clientAddress` option.
   */
  readonly peer?: string | null;
}

/** Calls `listener` once when `signal` aborts, or in a microtask when it already has. */
export function onAbort(signal: AbortSignal, listener: () => void): void {
  if (signal.aborted) queueMicrotask(listener);
  else signal.addEventListener('abort', listener, { once: true });
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
  /** Calls `listener` once when the client goes away; in a microtask when it already has. */
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

/** Request headers a preflight allows when `cors.allowedHeaders` is not given. */
export const defaultAllowedHeaders = [
  'Last-Event-ID',
  'Content-Type',
  'Authorization',
  'Idempotency-Key',
] as const;

function allowedOrigin(cors: CorsOptions, origin: string): string | null {
  const rule = cors.origin ?? '*';
  // `'*'` never echoes the origin: with credentials that would hand every site the user's
  // cookies (resolveOptions refuses `'*'` with credentials).
  if (rule === '*') return '*';
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
    headers['access-control-allow-headers'] = (cors.allowedHeaders ?? defaultAllowedHeaders).join(
      ', ',
    );
    headers['access-control-max-age'] = String(cors.maxAgeSeconds ?? 600);
  }
  return headers;
}

/**
 * How a WebSocket upgrade's `Origin` stands (browsers send one; they enforce no CORS on
 * WebSocket, so the server must): `same` no origin or the request's own host; `allowed` a
 * cross-origin page `cors` lets in with its credentials; `anonymous` allowed by `origin: '*'`,
 * which admits no credentials (cookies are dropped before `authorize` sees the request, as a
 * browser's fetch would); `refused` anything else.
 */
export function upgradeOrigin(
  cors: CorsOptions | null,
  origin: string | null,
  host: string | null,
): 'same' | 'allowed' | 'anonymous' | 'refused' {
  if (origin === null) return 'same';
  if (host !== null && (origin === `http://${host}` || origin === `https://${host}`)) return 'same';
  if (cors === null) return 'refused';
  const allowed = allowedOrigin(cors, origin);
  if (allowed === null) return 'refused';
  return allowed === '*' ? 'anonymous' : 'allowed';
}

const CREDENTIALS = new Set(['cookie', 'authorization']);

/** `inc` with its credentials (cookies, Authorization) hidden, for an anonymous origin. */
export function withoutCredentials(inc: Incoming): Incoming {
  let request: Request | undefined;
  return {
    ...inc,
    header: (name) => (CREDENTIALS.has(name) ? null : inc.header(name)),
    body: (limit) => inc.body(limit),
    onClose: (listener) => inc.onClose(listener),
    request() {
      if (request === undefined) {
        const original = inc.request();
        const headers = new Headers(original.headers);
        for (const name of CREDENTIALS) headers.delete(name);
        request = new Request(original.url, {
          method: original.method,
          headers,
          signal: inc.signal,
        });
      }
      return request;
    },
  };
}
