import { OutlastError } from '../errors.js';
import { AsyncQueue, Emitter } from './emitter.js';
import { awaitJobOutcome, type JobRequests, startJobRetrying, Waker } from './job.js';
import { startTransport } from './learn.js';
import { pageLifecycle, watchPage } from './lifecycle.js';
import { type ConnectOptions, clientDefaults, realClock } from './options.js';
import {
  defaultProfileStore,
  emptyProfile,
  expireLessons,
  fileProfileStore,
  memoryProfileStore,
  type PathProfile,
  type ProfileStore,
  upgradeProfile,
} from './profile.js';
import { ReportBatcher } from './reports.js';
import { Session, type SessionOptions } from './session.js';
import type { FetchLike, TransportFactory, TransportName, WebSocketLike } from './transport.js';
import { openLongPoll } from './transports/long-poll.js';
import { fetchWithRefresh, requestPolicy, withRequestPolicy } from './transports/request.js';
import { openSse } from './transports/sse.js';
import { openWebSocket } from './transports/websocket.js';
import type { ClientEvent, ConnectionEvents, EndNotice } from './types.js';
import { resolveUrl, streamRoutes } from './urls.js';

/** The transports by name. */
export const transportFactories: Record<TransportName, TransportFactory> = {
  sse: openSse,
  ws: openWebSocket,
  poll: openLongPoll,
};

/** A live connection: iterate it for events (leaving the loop closes it), or listen. */
export interface Connection extends AsyncIterable<ClientEvent> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof ConnectionEvents>(
    type: K,
    listener: (value: ConnectionEvents[K]) => void,
  ): () => void;
  /** Removes a listener. */
  off<K extends keyof ConnectionEvents>(
    type: K,
    listener: (value: ConnectionEvents[K]) => void,
  ): void;
  /** Resolves when the stream ends (with a job's result); rejects on a fatal error or a job's failure. */
  readonly done: Promise<EndNotice>;
  /**
   * A job's result; rejects with a {@link JobFailedError} (`job-failed`, `job-cancelled`,
   * `job-lost`, `job-interrupted`; its `job` holds the server's own code and details), or a
   * fatal error.
   */
  readonly result: Promise<unknown>;
  /** The id the next reconnect resumes after. */
  readonly lastEventId: string | null;
  /** The transport in use (or about to be). */
  readonly transport: TransportName;
  /** The stream URL (after a job started: the job's stream). */
  readonly url: string;
  /** What was learned about this path so far (a copy); `null` before the first connection. */
  readonly pathProfile: PathProfile | null;
  /** Forgets what was learned about this path (here and in the profile store). */
  resetPathProfile(): Promise<void>;
  /** Closes the connection (cause `client-abort`); the iterator ends. */
  close(): void;
}

function resolveStore(option: ConnectOptions['profile']): ProfileStore | null {
  if (option === null) return null;
  if (option === undefined || option === 'auto') return defaultProfileStore();
  if (option === 'memory') return memoryProfileStore();
  if ('file' in option) return fileProfileStore(option.file);
  return option;
}

function check(name: string, value: unknown, ok: boolean, expected: string): void {
  if (!ok) {
    throw new OutlastError(
      'invalid-option',
      `connect(): ${name} = ${JSON.stringify(value)} is invalid; expected ${expected}`,
    );
  }
}

/**
 * Connects to an outlast stream (or any SSE endpoint) and keeps it alive across every cut
 * the path makes: resumes with the last id on every transport, never delivers an event twice,
 * learns the path's clocks and buffering, and ends when the stream ends.
 *
 * @example
 * const conn = connect('https://api.example.com/outlast/jobs/ocr', { body: { file: 'a.pdf' } });
 * for await (const event of conn) console.log(event.type, event.data);
 * console.log(await conn.result);
 * @throws {OutlastError} `invalid-option` for an option out of range, `invalid-url` for a URL
 * that is not http(s) or does not resolve (relative URLs resolve against the page), both at
 * once, not later.
 */
export function connect(url: string | URL, options: ConnectOptions = {}): Connection {
  const href = resolveUrl(url);
  const o = { ...clientDefaults, ...stripUndefined(options) };
  check(
    'transports',
    o.transports,
    o.transports.length > 0 && o.transports.every((t) => t in transportFactories),
    'a non-empty list of sse, ws, poll',
  );
  check('stallFactor', o.stallFactor, o.stallFactor >= 1, 'a number >= 1');
  for (const name of ['maxLineBytes', 'maxEventBytes', 'maxQueuedEvents'] as const) {
    check(name, o[name], Number.isSafeInteger(o[name]) && o[name] >= 1, 'a positive integer');
  }
  for (const name of ['reconnectJitterMs', 'hopRetryDelayMs'] as const) {
    check(name, o[name], Number.isFinite(o[name]) && o[name] >= 0, 'a number of ms >= 0');
  }
  const request = requestPolicy(options);
  // What the user chose, for a POST that turns out to start a job (followed like any job).
  const chosen = { protocol: o.protocol, transports: o.transports };
  if (request.policy.post !== null) {
    // A POST stream is an SSE response to that one request: no outlast query, no fallback.
    o.protocol = 'sse';
    o.transports = ['sse'];
  }
  const factories = Object.fromEntries(
    Object.entries(transportFactories).map(([name, factory]) => [
      name,
      withRequestPolicy(name as TransportName, factory, request.policy),
    ]),
  ) as Record<TransportName, TransportFactory>;
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const Ws =
    options.WebSocket !== undefined
      ? options.WebSocket
      : ((globalThis as { WebSocket?: WebSocketLike }).WebSocket ?? null);
  const sessionOptions: SessionOptions = {
    ...o,
    headers: request.staticHeaders,
    fetch: fetchFn,
    WebSocket: Ws,
    clock: options.clock ?? realClock,
    random: options.random ?? Math.random,
  } as SessionOptions;
  const store = resolveStore(options.profile);
  const emitter = new Emitter<ConnectionEvents>();
  const queue = new AsyncQueue<ClientEvent>();
  const aborter = new AbortController();
  let session: Session | null = null;
  let streamUrl = href;
  let closed = false;
  let iterated = false;
  let overflowed = false;
  let resolveDone!: (n: EndNotice) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<EndNotice>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  const result = done.then((n) => {
    if (n.error !== undefined) throw n.error;
    return n.result;
  });
  // Nobody has to await these: a rejection with no reader must not crash the process.
  done.catch(() => {});
  result.catch(() => {});

  const fail = (error: OutlastError) => {
    if (closed) return;
    closed = true;
    emitter.emit('error', error);
    queue.end(error);
    rejectDone(error);
  };
  const sink = {
    emitter,
    deliver(event: ClientEvent) {
      emitter.emit('event', event);
      if (overflowed) return;
      if (queue.size < o.maxQueuedEvents) {
        queue.push(event);
        return;
      }
      // Never a silent drop. Listeners saw this event; the iterator cannot have it.
      overflowed = true;
      const error = new OutlastError(
        'max-queued-events-exceeded',
        `${o.maxQueuedEvents} events wait unread in the iterator (maxQueuedEvents); ${
          iterated
            ? 'the loop reads slower than events arrive'
            : 'iterate from the start, or use only listeners'
        }`,
      );
      if (iterated) {
        // The reader is behind for good: stop, rather than hold an unbounded queue.
        aborter.abort();
        session?.close(false);
        fail(error);
      } else {
        // Listener-only so far: the connection goes on for the listeners; an iterator started
        // later yields the queued events, then throws this error where its events stop.
        queue.end(error);
      }
    },
    finish(final: { result?: unknown; error?: OutlastError }) {
      if (closed) return;
      closed = true;
      const notice: EndNotice = { lastEventId: session?.lastEventId ?? null, ...final };
      emitter.emit('end', notice);
      queue.end();
      resolveDone(notice);
    },
    fail,
    jobOutcome: () => awaitJobOutcome(resultUrl!, requests),
  };
  const waker = new Waker();
  const requests: JobRequests = {
    fetch: fetchWithRefresh(fetchFn, request.policy),
    headers: request.policy.headers,
    clock: sessionOptions.clock,
    random: sessionOptions.random,
    signal: aborter.signal,
    initialDelayMs: o.initialDelayMs,
    maxDelayMs: o.maxDelayMs,
    waker,
  };
  let resultUrl: string | null = null;

  const start = async () => {
    // The page is watched from the job POST on: a waiting reconnect, or a job start waiting
    // after a network error, runs at once when the page is back.
    const page = watchPage(
      options.lifecycle !== undefined ? options.lifecycle : pageLifecycle(),
      () => session?.wake() ?? waker.wake(),
    );
    const unlisten = emitter.on('cut', () => page.lost());
    stopWatching = () => {
      unlisten();
      page.stop();
    };
    // The job POST measures the round trip the hold bound is made of (one answer, no retry).
    let postRttMs: number | null = null;
    if (request.job) {
      const postAt = sessionOptions.clock.now();
      let retried = false;
      const started = await startJobRetrying(
        href,
        options.body,
        requests,
        o.maxStartAttempts,
        (retry) => {
          retried = true;
          emitter.emit('reconnecting', {
            cause: retry.cause,
            transport: o.transports[0]!,
            delayMs: retry.delayMs,
            attempt: retry.attempt,
          });
        },
      );
      if (!retried) postRttMs = sessionOptions.clock.now() - postAt;
      streamUrl = started.stream;
      resultUrl = started.result;
    } else resultUrl = streamRoutes(streamUrl).result;
    await follow(postRttMs);
  };

  let stopWatching = () => {};
  /** Opens the session on `streamUrl` (a job's stream once it started). */
  const follow = async (postRttMs: number | null) => {
    if (closed) return;
    const origin = new URL(streamUrl).origin;
    const loaded =
      store === null ? null : await Promise.resolve(store.get(origin)).catch(() => null);
    if (closed) return;
    // A profile saved by an older version is upgraded (each lesson gets its time).
    const profile = loaded === null ? emptyProfile(origin) : upgradeProfile(loaded, origin);
    const now = sessionOptions.clock.now();
    if (expireLessons(profile, now, o.lessonTtlMs) && o.learn && store !== null) {
      void Promise.resolve(store.set(profile)).catch(() => {});
    }
    const routes = streamRoutes(streamUrl);
    const reports =
      o.reports && routes.reports !== null
        ? new ReportBatcher(
            routes.reports,
            o.reportDelayMs,
            fetchFn,
            request.policy.headers,
            sessionOptions.clock,
          )
        : null;
    // An outlast route (`{base}/streams/{id}`, `{base}/jobs/{id}/events`) is taken to be an
    // outlast server until its first response says otherwise.
    const looksOutlast = routes.reports !== null;
    // The order the user gave is honoured from the first connection when the URL is an
    // outlast route (a job's stream included): `transports: ['ws', 'sse']` starts on ws.
    const knowsOutlast =
      o.protocol === 'outlast' || (o.protocol === 'auto' && (profile.outlast || looksOutlast));
    const first =
      o.protocol === 'sse'
        ? 'sse'
        : knowsOutlast
          ? startTransport(o.transports, profile)
          : o.transports.includes('sse')
            ? 'sse'
            : o.transports[0]!;
    session = new Session(
      sessionOptions,
      streamUrl,
      resultUrl,
      profile,
      store,
      reports,
      factories,
      sink,
      first,
      looksOutlast,
    );
    session.rttMs = postRttMs;
    session.connect();
  };
  done.then(
    () => stopWatching(),
    () => stopWatching(),
  );
  const failWith = (error: unknown) =>
    fail(
      error instanceof OutlastError
        ? error
        : new OutlastError('unexpected-response', String(error), { cause: error }),
    );

  if (request.policy.post !== null) {
    // A POST answered 202 with an outlast job's start is that job: it is followed like a job
    // started with `job: true` (its stream, then its result), unless `job: false` said the
    // URL is no job route.
    request.policy.onJobStarted = (started) => {
      if (closed) return;
      session?.close(false);
      session = null;
      if (options.job === false) {
        fail(
          new OutlastError(
            'unexpected-response',
            `POST ${href} answered 202 with the start of outlast job ${started.jobId}, but job: false was given: the job runs unobserved; leave job unset (or pass job: true) to follow it`,
          ),
        );
        return;
      }
      request.policy.post = null;
      o.protocol = sessionOptions.protocol = chosen.protocol;
      o.transports = sessionOptions.transports = chosen.transports;
      streamUrl = started.stream;
      resultUrl = started.result;
      follow(null).catch(failWith);
    };
  }

  const close = () => {
    if (closed) return;
    aborter.abort();
    session?.close(true);
    closed = true;
    queue.end();
    rejectDone(
      new OutlastError('client-closed', 'the connection was closed by close() or its signal'),
    );
  };
  if (options.signal !== undefined) {
    if (options.signal.aborted) queueMicrotask(close);
    else options.signal.addEventListener('abort', close, { once: true });
  }
  start().catch(failWith);

  return {
    on: (type, listener) => emitter.on(type, listener),
    off: (type, listener) => emitter.off(type, listener),
    done,
    result,
    get lastEventId() {
      // Once a session runs, its id is the truth, even when an empty `id:` reset it to null.
      return session === null ? o.lastEventId : session.lastEventId;
    },
    get transport() {
      return session?.current ?? o.transports[0]!;
    },
    get url() {
      return streamUrl;
    },
    get pathProfile() {
      return session === null ? null : structuredClone(session.profile);
    },
    async resetPathProfile() {
      const origin = new URL(streamUrl).origin;
      if (session !== null)
        Object.assign(session.profile, emptyProfile(origin), { outlast: session.outlast });
      await store?.delete(origin);
    },
    close,
    [Symbol.asyncIterator]: () => {
      iterated = true;
      // Leaving the loop (break, return, a throw in its body) closes the connection, as a
      // Node stream's iterator destroys the stream: nothing keeps reconnecting for nobody.
      return {
        next: () => queue.next(),
        return: () => {
          close();
          return queue.return();
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
