import { OutlastError } from '../errors.js';
import type { TransportName } from './transport.js';

/** The page's base URL (`document.baseURI`, else `location.href`), or `undefined` outside a page. */
function pageBase(): string | undefined {
  const g = globalThis as {
    document?: { baseURI?: unknown };
    location?: { href?: unknown };
  };
  const base = g.document?.baseURI ?? g.location?.href;
  return typeof base === 'string' ? base : undefined;
}

/**
 * The absolute URL `connect()` reads: a relative URL resolves against the page, as `fetch`
 * and `EventSource` do. Only `http:` and `https:` URLs are streams.
 * @throws {OutlastError} `invalid-url` for anything else (at once, not later).
 */
export function resolveUrl(url: string | URL, base: string | undefined = pageBase()): string {
  let u: URL;
  try {
    u = new URL(String(url), base);
  } catch {
    const hint =
      base === undefined
        ? 'outside a page, pass an absolute http(s) URL'
        : `it does not resolve against the page (${base})`;
    throw new OutlastError(
      'invalid-url',
      `connect(): ${JSON.stringify(String(url))} is not a URL; ${hint}`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new OutlastError(
      'invalid-url',
      `connect(): ${JSON.stringify(u.href)} is not an http(s) URL; the client reads streams over HTTP (it upgrades to WebSocket itself)`,
    );
  }
  return u.href;
}

/** The outlast routes around a stream URL (docs/protocol.md, "Paths"). */
export interface StreamRoutes {
  /** `{base}/reports`, or `null` when the URL is not an outlast stream route. */
  reports: string | null;
  /** `{base}/jobs/{id}` when the URL is a job's stream, else `null`. */
  result: string | null;
}

const ROUTE = /^(.*)\/(streams|jobs)\/([^/]+)(\/events)?\/?$/;

/** Finds the reports and job-result URLs that go with a stream URL. */
export function streamRoutes(streamUrl: string): StreamRoutes {
  const u = new URL(streamUrl);
  const m = ROUTE.exec(u.pathname);
  if (m === null) return { reports: null, result: null };
  const [, base, kind, id, events] = m;
  const isJob = kind === 'jobs' && events !== undefined;
  if (kind === 'jobs' && !isJob) return { reports: null, result: null };
  return {
    reports: `${u.origin}${base}/reports`,
    result: isJob ? `${u.origin}${base}/jobs/${id}` : null,
  };
}

/** What one attempt asks for. */
export interface AttemptParams {
  /** The server speaks outlast: query parameters are welcome. */
  outlast: boolean;
  lastEventId: string | null;
  heartbeatMs: number | null;
  maxStreamMs: number | null;
  headers: Record<string, string>;
}

/** The URL and headers of one attempt over `name` (outlast query only for outlast servers). */
export function attemptRequest(
  streamUrl: string,
  name: TransportName,
  p: AttemptParams,
): { url: string; headers: Record<string, string> } {
  const u = new URL(streamUrl);
  const headers = { ...p.headers };
  if (name === 'sse' && p.lastEventId !== null && p.lastEventId !== '') {
    // [spec] "If the last event ID string is not the empty string, set Last-Event-ID."
    headers['last-event-id'] = p.lastEventId;
  }
  if (p.outlast) {
    if (name === 'poll') u.searchParams.set('transport', 'poll');
    if (name === 'sse' && p.lastEventId !== null) u.searchParams.set('lastEventId', p.lastEventId);
    // Always present on WebSockets, even empty: the server then never waits for a hello.
    if (name === 'ws') u.searchParams.set('lastEventId', p.lastEventId ?? '');
    if (p.heartbeatMs !== null) {
      u.searchParams.set('heartbeat', String(Math.max(1, Math.round(p.heartbeatMs))));
    }
    if (p.maxStreamMs !== null) {
      u.searchParams.set('maxStream', String(Math.max(1, Math.round(p.maxStreamMs))));
    }
  }
  return { url: u.href, headers };
}
