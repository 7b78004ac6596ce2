import { OutlastError } from '../errors.js';
import { Backoff } from './backoff.js';
import type { CutCause } from './causes.js';
import type { Clock } from './options.js';
import { errorCode, type FetchLike, retryAfterSeconds } from './transport.js';
import { describe } from './transports/sse.js';

/** Request headers, resolved for each request (a token may have been refreshed). */
export type HeaderSource = () => Promise<Record<string, string>>;

/** What the job requests need besides their URL. */
export interface JobRequests {
  fetch: FetchLike;
  headers: HeaderSource;
  clock: Clock;
  random: () => number;
  /** Aborted by `close()`: stops every wait and request. */
  signal: AbortSignal;
  initialDelayMs: number;
  maxDelayMs: number;
  /**
   * Wakes a job-start retry that waits after a network error (the page came back online or
   * visible); `null`: none.
   */
  waker?: Waker | null;
}

/** The error of a wait that `close()` interrupted. */
function closedError(): OutlastError {
  return new OutlastError('client-closed', 'the connection was closed by close() or its signal');
}

/** Ends the pauses that wait on it early (the page came back online or visible). */
export class Waker {
  private readonly waiting = new Set<() => void>();

  /** Ends every pause waiting now; `false` when none waits. */
  wake(): boolean {
    if (this.waiting.size === 0) return false;
    for (const end of [...this.waiting]) end();
    return true;
  }

  /** Calls `end` on the next {@link wake}; returns the function that stops waiting. */
  on(end: () => void): () => void {
    this.waiting.add(end);
    return () => this.waiting.delete(end);
  }
}

/**
 * Waits `ms` on `clock`; rejects with `client-closed` (and clears the timer) on abort; ends
 * early when `waker` wakes it.
 */
export function pause(
  clock: Clock,
  ms: number,
  signal: AbortSignal,
  waker: Waker | null = null,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(closedError());
      return;
    }
    let unwake = () => {};
    const onAbort = () => {
      clock.clearTimeout(timer);
      unwake();
      reject(closedError());
    };
    const done = () => {
      clock.clearTimeout(timer);
      unwake();
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    if (waker !== null) unwake = waker.on(done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

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
): Promise<StartedJob | { retryAfterMs: number | null; message: string; cause: CutCause }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw closedError();
    return { retryAfterMs: null, message: describe(error), cause: 'network-error' };
  }
  if (isEventStream(res)) {
    // A POST stream (an LLM API), not a job route: its body may never end, so it is not read.
    void res.body?.cancel().catch(() => {});
    throw new OutlastError(
      'unexpected-response',
      `POST ${url} answered ${res.status} text/event-stream: a POST stream, not an outlast job; pass method: 'POST' to read it as a stream`,
    );
  }
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    // The answer was cut mid-body: the job may have started, but its id is lost. Starting
    // it again is the only way on (the first run is orphaned; docs/client.md, "Jobs").
    if (signal.aborted) throw closedError();
    return {
      retryAfterMs: null,
      message: `the answer was cut: ${describe(error)}`,
      cause: 'mid-stream-eof',
    };
  }
  if (res.status === 202 || res.status === 200 || res.status === 201) {
    const started = parseJobStart(text, url);
    if (started !== null) return started;
    throw new OutlastError(
      'unexpected-response',
      `POST ${url} answered ${res.status} without {"jobId","stream"}; is it an outlast job route?`,
    );
  }
  if (RETRYABLE.has(res.status)) {
    const s = retryAfterSeconds(res.headers.get('retry-after'));
    const code = errorCode(text);
    return {
      retryAfterMs: s === null ? null : s * 1000,
      message: `HTTP ${res.status}${code === null ? '' : ` (${code})`}`,
      cause: code === null ? 'intermediary-error' : 'server-error',
    };
  }
  throw statusError(res.status, errorCode(text), `starting the job at ${url}`);
}

/** Whether a response is `text/event-stream`. */
export function isEventStream(res: Response): boolean {
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'text/event-stream';
}

/**
 * The job an outlast job route's answer names (`{"jobId","stream","result"?}`, URLs resolved
 * against `url`), or `null` when `text` is not such an answer.
 */
export function parseJobStart(text: string, url: string): StartedJob | null {
  try {
    const j = JSON.parse(text) as { jobId?: unknown; stream?: unknown; result?: unknown };
    if (typeof j?.jobId !== 'string' || typeof j.stream !== 'string') return null;
    const result =
      typeof j.result === 'string'
        ? j.result
        : `${url.replace(/\/jobs\/[^/]+$/, '')}/jobs/${j.jobId}`;
    return {
      jobId: j.jobId,
      stream: new URL(j.stream, url).href,
      result: new URL(result, url).href,
    };
  } catch {
    return null;
  }
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

/** One answer of `GET {base}/jobs/{id}`: a record, a final refusal, or worth another try. */
type RecordAnswer =
  | { record: JobRecordLike }
  | { fatal: OutlastError }
  | { retry: string; retryAfterMs: number | null };

async function fetchJobRecord(url: string, r: JobRequests): Promise<RecordAnswer> {
  let res: Response;
  try {
    const headers = await r.headers();
    res = await r.fetch(url, {
      headers: { accept: 'application/json', ...headers },
      signal: r.signal,
      cache: 'no-store',
    });
  } catch (error) {
    if (r.signal.aborted) return { fatal: closedError() };
    return { retry: describe(error), retryAfterMs: null };
  }
  let text = '';
  try {
    text = await res.text();
  } catch (error) {
    if (r.signal.aborted) return { fatal: closedError() };
    return { retry: `the answer was cut: ${describe(error)}`, retryAfterMs: null };
  }
  if (res.status === 200) {
    try {
      const record = JSON.parse(text) as JobRecordLike;
      if (typeof record?.state === 'string') return { record };
    } catch {
      // Below: a 200 that is not a record is some hop's answer; try again.
    }
    return { retry: 'HTTP 200 without a job record', retryAfterMs: null };
  }
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    // The GET is idempotent: an intermediary's 502/504, or an overloaded server, is retried.
    const s = retryAfterSeconds(res.headers.get('retry-after'));
    return { retry: `HTTP ${res.status}`, retryAfterMs: s === null ? null : s * 1000 };
  }
  const code = errorCode(text);
  return {
    fatal: statusError(res.status, res.status === 404 ? 'unknown-job' : code, `reading ${url}`),
  };
}

/**
 * A job's outcome from its record (`GET {base}/jobs/{id}`), for a stream that ended or
 * expired without its final event. Never settles without an outcome: a record that still
 * says `running` (the stream was evicted while the job runs) and every transient failure
 * (an intermediary's 502/504, a network error) are retried with full-jitter backoff until the
 * record is settled. Rejects with `unknown-job` when the server has no such job (404), with
 * `unauthorized` / `forbidden`, or `client-closed`.
 */
export async function awaitJobOutcome(
  url: string,
  r: JobRequests,
): Promise<{ result?: unknown; error?: OutlastError }> {
  const backoff = new Backoff({ ...r, healthyAfterMs: Number.POSITIVE_INFINITY }, r.random);
  for (;;) {
    const answer = await fetchJobRecord(url, r);
    if ('fatal' in answer) throw answer.fatal;
    let floor = 0;
    if ('record' in answer) {
      if (answer.record.state !== 'running') return fromRecord(answer.record);
    } else floor = answer.retryAfterMs ?? 0;
    await pause(r.clock, backoff.next(floor), r.signal);
  }
}

/** What the job-starting loop tells the connection before each retry. */
export type StartRetryListener = (retry: {
  cause: CutCause;
  delayMs: number;
  attempt: number;
  message: string;
}) => void;

/**
 * Starts a job, retrying refusals worth retrying (nothing listening, overload, an
 * intermediary's error) with full-jitter backoff, at most `maxAttempts` times in all, and
 * telling `onRetry` before each wait. A POST is not idempotent, hence the bound: each retry
 * after a cut answer may leave one more run on the server.
 * @throws {OutlastError} `job-start-failed` after the last attempt, with its cause.
 */
export async function startJobRetrying(
  url: string,
  body: unknown,
  r: JobRequests,
  maxAttempts: number,
  onRetry: StartRetryListener,
): Promise<StartedJob> {
  const backoff = new Backoff({ ...r, healthyAfterMs: Number.POSITIVE_INFINITY }, r.random);
  // One key for every attempt: a retry after a cut answer finds the job the first attempt
  // started instead of starting it again (docs/protocol.md, "Idempotent start").
  const key = newIdempotencyKey();
  for (let attempt = 1; ; attempt++) {
    const headers = withIdempotencyKey(await r.headers(), key);
    const started = await startJob(url, body, headers, r.fetch, r.signal);
    if ('jobId' in started) return started;
    if (attempt >= maxAttempts) {
      throw new OutlastError(
        'job-start-failed',
        `could not start the job at ${url} in ${attempt} attempts (maxStartAttempts); last: ${started.message}`,
      );
    }
    const delayMs = backoff.next(started.retryAfterMs ?? 0);
    onRetry({ cause: started.cause, delayMs, attempt, message: started.message });
    // Only a network failure waits for the page: a refusal's wait (overload, Retry-After) is
    // the server's to set.
    await pause(
      r.clock,
      delayMs,
      r.signal,
      started.cause === 'network-error' ? (r.waker ?? null) : null,
    );
  }
}

/**
 * 128 random bits, hex. `getRandomValues`, not `randomUUID`: browsers offer the latter on
 * secure origins only.
 */
function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `headers` with `Idempotency-Key: key`, unless the caller set one itself. */
function withIdempotencyKey(headers: Record<string, string>, key: string): Record<string, string> {
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'idempotency-key')) return headers;
  return { ...headers, 'idempotency-key': key };
}

/** Final events of a job stream (docs/protocol.md, "Jobs"). */
export const RESULT = 'outlast.result';
export const JOB_ERROR = 'outlast.error';

/** The error a job ended with, as its server told it: its own code, message and details. */
export interface JobErrorInfo {
  /** The server's code: `job-failed`, or the job's own (`quota-exceeded`, `upstream-status`). */
  code: string;
  message: string;
  /** Details the job added (a `JobError`'s), e.g. the gateway's upstream `status`. */
  [field: string]: unknown;
}

/** Codes a job's end keeps on the client; every other code of a failure is `job-failed`. */
type JobEndCode = 'job-failed' | 'job-cancelled' | 'job-lost' | 'job-interrupted';
const KEPT_CODES: ReadonlySet<string> = new Set(['job-cancelled', 'job-lost', 'job-interrupted']);

/**
 * How `result` rejects when a job did not succeed. `code` is one of four the client knows
 * (`job-interrupted`: a drain's deadline ended it, safe to start again); `job` is what the
 * server said, with the job's own code (`quota-exceeded`) and details.
 */
export class JobFailedError extends OutlastError<JobEndCode> {
  override readonly name = 'JobFailedError';
  constructor(readonly job: JobErrorInfo) {
    super(KEPT_CODES.has(job.code) ? (job.code as JobEndCode) : 'job-failed', job.message);
  }
}

/** The outcome carried by a final event. */
export function parseFinal(type: string, data: string): { result?: unknown; error?: OutlastError } {
  try {
    const j = JSON.parse(data) as { result?: unknown };
    if (type === RESULT) return { result: j.result };
    return { error: jobError(j) };
  } catch {
    return type === RESULT ? { result: data } : { error: jobError({ message: data }) };
  }
}

function jobError(told: unknown): JobFailedError {
  const o = typeof told === 'object' && told !== null ? (told as Record<string, unknown>) : {};
  const code = typeof o.code === 'string' && o.code !== '' ? o.code : 'job-failed';
  const message = typeof o.message === 'string' ? o.message : 'the job failed';
  return new JobFailedError({ ...o, code, message });
}

/** The outcome in a job record. */
export function fromRecord(r: {
  state: string;
  result?: unknown;
  error?: { code?: string; message?: string; [field: string]: unknown };
}) {
  if (r.state === 'succeeded') return { result: r.result };
  if (r.state === 'running') return {};
  return {
    error: jobError({
      ...r.error,
      code: r.error?.code ?? (r.state === 'lost' ? 'job-lost' : undefined),
    }),
  };
}
