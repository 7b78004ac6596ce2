import { OutlastError } from '../errors.js';
import { errorCode, type FetchLike, retryAfterSeconds } from './transport.js';
import { describe } from './transports/sse.js';

/** A started job: where its stream and its result are. */
export interface StartedJob {
  jobId: string;
  stream: string;
  result: string;
}

/** Statuses that say the job did not start and a retry is safe. */
const RETRYABLE = new Set([429, 502, 503, 504, 524]);

/**
 * `POST {base}/jobs/{name}` with the input; resolves to the absolute stream and result URLs.
 * Returns `{ retryAfterMs }` for a refusal worth retrying (overload, an intermediary's error).
 */
export async function startJob(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  fetch: FetchLike,
  signal: AbortSignal,
): Promise<StartedJob | { retryAfterMs: number | null; message: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw new OutlastError('client-closed', 'the connection was closed');
    return { retryAfterMs: null, message: describe(error) };
  }
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    // The answer was cut mid-body: the job may have started, but its id is lost. Starting
    // it again is the only way on (the first run is orphaned; docs/client.md, "Jobs").
    return { retryAfterMs: null, message: `the answer was cut: ${describe(error)}` };
  }
  if (res.status === 202 || res.status === 200 || res.status === 201) {
    try {
      const j = JSON.parse(text) as { jobId?: unknown; stream?: unknown; result?: unknown };
      if (typeof j.jobId === 'string' && typeof j.stream === 'string') {
        const result =
          typeof j.result === 'string'
            ? j.result
            : `${url.replace(/\/jobs\/[^/]+$/, '')}/jobs/${j.jobId}`;
        return {
          jobId: j.jobId,
          stream: new URL(j.stream, url).href,
          result: new URL(result, url).href,
        };
      }
    } catch {
      // Fall through to the error below.
    }
    throw new OutlastError(
      'unexpected-response',
      `POST ${url} answered ${res.status} without {"jobId","stream"}; is it an outlast job route?`,
    );
  }
  if (RETRYABLE.has(res.status)) {
    const s = retryAfterSeconds(res.headers.get('retry-after'));
    return { retryAfterMs: s === null ? null : s * 1000, message: `HTTP ${res.status}` };
  }
  throw statusError(res.status, errorCode(text), `starting the job at ${url}`);
}

/** The error for a status that stops the client. */
export function statusError(status: number, code: string | null, what: string): OutlastError {
  const known: Record<number, string> = {
    401: 'unauthorized',
    403: 'forbidden',
    404: 'unknown-stream',
    400: 'bad-query',
    413: 'request-too-large',
  };
  const c = (code ?? known[status] ?? 'unexpected-response') as 'unexpected-response';
  const hint =
    status === 401
      ? 'send credentials in `headers`'
      : status === 403
        ? 'the credentials do not allow this stream'
        : status === 404
          ? 'check the URL; the stream may have ended and expired'
          : 'see docs/errors.md';
  return new OutlastError(c, `${what}: HTTP ${status}${code ? ` (${code})` : ''}; ${hint}`);
}

/** A job record from `GET {base}/jobs/{id}` (docs/protocol.md, "Jobs"). */
export interface JobRecordLike {
  state: string;
  result?: unknown;
  error?: { code?: string; message?: string };
}

/** Fetches a job's record; `null` when unavailable (expired, unreachable). */
export async function fetchJobRecord(
  url: string,
  headers: Record<string, string>,
  fetch: FetchLike,
): Promise<JobRecordLike | null> {
  try {
    const res = await fetch(url, { headers: { accept: 'application/json', ...headers } });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      return null;
    }
    return (await res.json()) as JobRecordLike;
  } catch {
    return null;
  }
}

/** Final events of a job stream (docs/protocol.md, "Jobs"). */
export const RESULT = 'outlast.result';
export const JOB_ERROR = 'outlast.error';

/** The outcome carried by a final event. */
export function parseFinal(type: string, data: string): { result?: unknown; error?: OutlastError } {
  try {
    const j = JSON.parse(data) as { result?: unknown; code?: string; message?: string };
    if (type === RESULT) return { result: j.result };
    return { error: jobError(j.code, j.message) };
  } catch {
    return type === RESULT ? { result: data } : { error: jobError(undefined, data) };
  }
}

function jobError(code: string | undefined, message: string | undefined): OutlastError {
  const c = code === 'job-cancelled' || code === 'job-lost' ? code : 'job-failed';
  return new OutlastError(c, message ?? 'the job failed');
}

/** The outcome in a job record. */
export function fromRecord(r: {
  state: string;
  result?: unknown;
  error?: { code?: string; message?: string };
}) {
  if (r.state === 'succeeded') return { result: r.result };
  if (r.state === 'running') return {};
  return {
    error: jobError(
      r.error?.code ?? (r.state === 'lost' ? 'job-lost' : undefined),
      r.error?.message,
    ),
  };
}
