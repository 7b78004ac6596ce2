import type { TransportName } from './transport.js';

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
