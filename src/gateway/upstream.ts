import { JobError } from '../server/jobs.js';

/** The part of `fetch` the gateway uses. */
export type FetchLike = (
  input: string,
  init: RequestInit & { duplex?: 'half' },
) => Promise<Response>;

/**
 * [RFC 9110, 7.6.1] Hop-by-hop fields: "a proxy or gateway MUST remove any received
 * connection options before forwarding the message", plus the fields every proxy treats as
 * connection-specific. `host` and `content-length` are set again by `fetch`.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'http2-settings',
]);

/** Request query names the outlast protocol reads; never forwarded to the upstream. */
export const OUTLAST_QUERY = ['transport', 'lastEventId', 'heartbeat', 'maxStream', 'wait'];

/** Who asked, for `X-Forwarded-*`. */
export interface ClientInfo {
  /** The peer's address (`req.socket.remoteAddress`), or `null` when unknown (fetch runtimes). */
  address: string | null;
  /** `http` or `https` as the gateway's listener saw it. */
  proto: string;
}

/** Copies `source` without hop-by-hop fields (and those its `Connection` names). */
export function endToEnd(source: Headers, drop: readonly string[] = []): Headers {
  const named = new Set(
    (source.get('connection') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
  const out = new Headers();
  for (const [name, value] of source) {
    if (HOP_BY_HOP.has(name) || named.has(name) || drop.includes(name)) continue;
    out.append(name, value);
  }
  return out;
}

/** The headers of a request to the upstream: end-to-end fields plus `X-Forwarded-*`. */
export function upstreamHeaders(
  source: Headers,
  client: ClientInfo,
  drop: readonly string[] = [],
): Headers {
  const headers = endToEnd(source, drop);
  const prior = source.get('x-forwarded-for');
  if (client.address !== null) {
    headers.set('x-forwarded-for', prior === null ? client.address : `${prior}, ${client.address}`);
  }
  if (!headers.has('x-forwarded-proto')) headers.set('x-forwarded-proto', client.proto);
  const host = source.get('host');
  if (!headers.has('x-forwarded-host') && host !== null) headers.set('x-forwarded-host', host);
  return headers;
}

/**
 * The upstream URL of a request: the configured origin and base path, then the request's
 * path and query (without outlast's own names). Only the path is taken from the client,
 * never a host: an absolute-form or `//host` request target cannot redirect the gateway.
 */
export function upstreamUrl(upstream: URL, url: URL): string {
  const query = new URLSearchParams(url.search);
  for (const name of OUTLAST_QUERY) query.delete(name);
  const search = query.size > 0 ? `?${query}` : '';
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname;
  return `${upstream.origin}${base}${url.pathname}${search}`;
}

/** Codes of upstream failures (docs/errors.md). */
export type UpstreamErrorCode =
  | 'upstream-unreachable'
  | 'upstream-reset'
  | 'upstream-timeout'
  | 'upstream-bad-response'
  | 'upstream-status'
  | 'upstream-too-large';

/** A run's failure, with the upstream's status when it answered one. */
export function upstreamError(
  code: UpstreamErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): JobError {
  return new JobError(code, message, details, { cause });
}

function causeCode(error: unknown): string {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return '';
}

/** Names what went wrong talking to the upstream, from a `fetch` or body-read error. */
export function classify(error: unknown, phase: 'connect' | 'body', target: string): JobError {
  if (error instanceof JobError) return error;
  const code = causeCode(error);
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO') {
    return upstreamError(
      'upstream-bad-response',
      `the upstream ${target} answered something that is not HTTP (${code}); check the upstream URL and port`,
      {},
      error,
    );
  }
  if (phase === 'connect' && !code.startsWith('UND_ERR_SOCKET') && code !== 'ECONNRESET') {
    return upstreamError(
      'upstream-unreachable',
      `could not reach the upstream ${target}${code === '' ? '' : ` (${code})`}; is it running?`,
      {},
      error,
    );
  }
  return upstreamError(
    'upstream-reset',
    `the upstream ${target} closed the connection ${phase === 'body' ? 'in the middle of its answer' : 'before answering'}${code === '' ? '' : ` (${code})`}`,
    {},
    error,
  );
}
