import { OutlastError } from '../../errors.js';
import { readAtMost } from '../../wire/bytes.js';
import { type HeaderSource, parseJobStart, type StartedJob } from '../job.js';
import type { ConnectOptions } from '../options.js';
import type {
  CloseInfo,
  FetchLike,
  Transport,
  TransportFactory,
  TransportHandlers,
  TransportName,
} from '../transport.js';
import { describe } from './sse.js';

/** What a 401 tells the `onUnauthorized` hook. */
export interface UnauthorizedInfo {
  status: 401;
  /** The URL that answered 401. */
  url: string;
  /** The error code of its JSON body, if any. */
  code: string | null;
}

/** How every connection of one `connect()` is made beyond its URL. */
export interface RequestPolicy {
  /** Headers resolved for every connection (a function option is called each time). */
  headers: HeaderSource;
  /** Called on a 401; once it settles the connection is tried once more; `false`: give up. */
  onUnauthorized: ((info: UnauthorizedInfo) => unknown) | null;
  /** A POST stream: the method and body of every request; `null` for GET. */
  post: { body: string; resend: boolean; sent: boolean } | null;
  /**
   * A POST stream answered `202` with an outlast job's start (`{"jobId","stream"}`): the
   * attempt stops there and this decides what follows (`connect()` follows the job).
   */
  onJobStarted: ((started: StartedJob) => void) | null;
}

/** The most of a `202` body read to tell an outlast job start (its answer is far smaller). */
const MAX_JOB_START_BYTES = 65_536;

/** The request options of `connect()`, as {@link requestPolicy} reads them. */
export type RequestOptions = Pick<
  ConnectOptions,
  'headers' | 'onUnauthorized' | 'method' | 'body' | 'job' | 'resendPost'
>;

/**
 * Reads the request options: whether `url` starts an outlast job or is a POST stream, the
 * static headers (the session's), and the per-connection policy.
 * @throws {OutlastError} `invalid-option` for a body that neither starts a job nor is POSTed.
 */
export function requestPolicy(o: RequestOptions): {
  policy: RequestPolicy;
  staticHeaders: Record<string, string>;
  job: boolean;
} {
  const job = o.job ?? (o.body !== undefined && o.method === undefined);
  if (!job && o.body !== undefined && o.method !== 'POST') {
    throw new OutlastError(
      'invalid-option',
      "connect(): a body is POSTed: pass method: 'POST' for a POST stream, or job: true to start an outlast job",
    );
  }
  const fn = typeof o.headers === 'function' ? o.headers : null;
  const staticHeaders = fn === null ? { ...(o.headers as Record<string, string> | undefined) } : {};
  const json = typeof o.body !== 'string';
  const post =
    !job && o.method === 'POST'
      ? {
          body: json ? JSON.stringify(o.body ?? null) : (o.body as string),
          resend: o.resendPost ?? false,
          sent: false,
        }
      : null;
  const withType = (h: Record<string, string>) =>
    post !== null && json && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')
      ? { ...h, 'content-type': 'application/json' }
      : h;
  const headers: HeaderSource =
    fn === null ? async () => withType(staticHeaders) : async () => withType({ ...(await fn()) });
  return {
    policy: { headers, onUnauthorized: o.onUnauthorized ?? null, post, onJobStarted: null },
    // The static headers go out through the policy too (content type of a POST stream).
    staticHeaders,
    job,
  };
}

/** Statuses the session stops on with their own typed errors (not a cut of the stream). */
const FINAL_STATUS = new Set([400, 401, 403, 404]);

/**
 * Wraps a transport factory with the per-connection request policy: it resolves the headers
 * (a token refreshed since the last connection goes out on this one), gives a 401 to
 * `onUnauthorized` and tries once more, and for a POST stream sends the body and keeps the
 * non-idempotent POST from being re-sent after a cut unless the user allowed it.
 */
export function withRequestPolicy(
  name: TransportName,
  factory: TransportFactory,
  policy: RequestPolicy,
): TransportFactory {
  return (ctx, h) => {
    let stopped = false;
    let inner: Transport | null = null;
    let retried = false;
    let opened = false;
    const fail = (info: CloseInfo) => {
      if (!stopped) h.closed(info);
    };
    const closed = (info: CloseInfo): void => {
      if (stopped) return;
      if (info.status === 401 && policy.onUnauthorized !== null && !retried) {
        retried = true;
        inner = null;
        void refresh(info);
        return;
      }
      const post = policy.post;
      if (post !== null && info.kind === 'eof' && info.clean === true) {
        // The response is the answer: its end is the stream's end, nothing to resume.
        h.end();
        return;
      }
      if (post !== null && !post.resend && !FINAL_STATUS.has(info.status ?? 0)) {
        fail({
          ...info,
          fatal: new OutlastError(
            'stream-interrupted',
            `the POST stream at ${ctx.url} was ${opened ? 'cut' : 'not answered'} (${info.message ?? info.kind}); a POST is not re-sent unless resendPost is set`,
          ),
        });
        return;
      }
      h.closed(info);
    };
    const refresh = async (info: CloseInfo) => {
      let answer: unknown;
      try {
        answer = await policy.onUnauthorized!({
          status: 401,
          url: ctx.url,
          code: info.code ?? null,
        });
      } catch {
        answer = false;
      }
      if (stopped) return;
      if (answer === false) fail(info);
      else void open();
    };
    const open = async () => {
      // Never call a handler from inside the factory call: the session is still setting up.
      await Promise.resolve();
      const post = policy.post;
      if (post !== null && !post.resend && post.sent && !retried) {
        // A stall or another loss the transport did not see: still no second POST.
        fail({
          kind: 'network',
          fatal: new OutlastError(
            'stream-interrupted',
            `the POST stream at ${ctx.url} was lost; a POST is not re-sent unless resendPost is set`,
          ),
        });
        return;
      }
      let extra: Record<string, string>;
      try {
        extra = await policy.headers();
      } catch (error) {
        // A token endpoint that is down is a loss like any other: cut, backoff, ask again.
        fail({ kind: 'network', message: `headers() threw: ${describe(error)}` });
        return;
      }
      if (stopped) return;
      if (post !== null) post.sent = true;
      const handlers: TransportHandlers = {
        ...h,
        headers: (info) => {
          opened = true;
          h.headers(info);
        },
        closed,
      };
      inner = factory(
        {
          ...ctx,
          headers: { ...extra, ...ctx.headers },
          ...(policy.post === null
            ? {}
            : { method: 'POST', body: policy.post.body, fetch: jobAware(ctx.fetch) }),
        },
        handlers,
      );
    };
    /**
     * The POST's answer, unless it is an outlast job's `202`: then the attempt ends here (its
     * transport sees an empty 202 it no longer reports) and the policy's hook takes the job.
     */
    const jobAware =
      (fetch: FetchLike): FetchLike =>
      async (url, init) => {
        const res = await fetch(url, init);
        const hook = policy.onJobStarted;
        const type = (res.headers.get('content-type') ?? '').toLowerCase();
        if (res.status !== 202 || hook === null || !type.includes('json')) return res;
        const text = await boundedText(res, MAX_JOB_START_BYTES);
        const started = text === null ? null : parseJobStart(text, url);
        if (started !== null && !stopped) {
          stopped = true;
          hook(started);
        }
        return new Response(text, { status: 202, headers: res.headers });
      };
    void open();
    return {
      name,
      close() {
        stopped = true;
        inner?.close();
      },
    };
  };
}

/**
 * `fetch` for the job POST and the result GET: a 401 goes to `onUnauthorized`, and once it
 * settled the request is sent once more with freshly resolved headers.
 */
export function fetchWithRefresh(fetch: FetchLike, policy: RequestPolicy): FetchLike {
  const hook = policy.onUnauthorized;
  if (hook === null) return fetch;
  return async (url, init) => {
    const res = await fetch(url, init);
    if (res.status !== 401) return res;
    let answer: unknown;
    try {
      answer = await hook({ status: 401, url, code: null });
    } catch {
      answer = false;
    }
    if (answer === false) return res;
    await res.body?.cancel().catch(() => {});
    const fresh = await policy.headers();
    return fetch(url, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), ...fresh },
    });
  };
}

/** The body as text when it has at most `max` bytes, else `null` (and the rest is dropped). */
async function boundedText(res: Response, max: number): Promise<string | null> {
  if (res.body === null) return '';
  const bytes = await readAtMost(res.body, max);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}
