import type { JobRecord, Store } from '../store/types.js';
import { type DrainOptions, type DrainReport, ServerCore, type ServerStats } from './core.js';
import { createFetchHandler } from './fetch.js';
import type { JobFunction, JobHandle, StartJobOptions } from './jobs.js';
import { createNodeHandler, type NodeHandler } from './node.js';
import type { ResolvedOptions, ServerOptions } from './options.js';

/** An event to publish. */
export interface PublishInput {
  /** Event type. Types beginning with `outlast.` are reserved. @default 'message' */
  event?: string;
  /** Payload: a string is sent as is, anything else as JSON. @default null */
  data?: unknown;
}

/** A server: publish to streams, run jobs, and serve readers through the adapters. */
export interface Outlast {
  /** The options in effect (defaults applied). */
  readonly options: Readonly<ResolvedOptions>;
  /** The store in use. */
  readonly store: Store;
  /** Connections held now (SSE, WebSocket, held long-polls). */
  readonly connections: number;
  /**
   * Appends an event to a stream (created on first publish) and delivers it to live readers.
   * Resolves to its id.
   * @throws {OutlastError} `reserved-event-type`, `stream-ended`, `store-full`.
   */
  publish(streamId: string, event: PublishInput): Promise<string>;
  /**
   * Ends a stream after an optional final event: readers get it, then `outlast.end`, and
   * their responses end. Later readers at the final id get 204.
   */
  end(streamId: string, finalEvent?: PublishInput): Promise<void>;
  /**
   * Runs `fn` decoupled from any connection: it keeps running when every client has gone.
   * Its progress goes to the stream named by the job id; its result or error is kept for
   * `resultTtlMs` at `GET {base}/jobs/{id}`.
   * @throws {OutlastError} `overloaded` past `maxRunningJobs`.
   */
  startJob<I = unknown, R = unknown>(
    fn: JobFunction<I, R>,
    options?: StartJobOptions<I>,
  ): Promise<JobHandle>;
  /**
   * Cancels a job wherever it runs: one running in this process is settled `cancelled`
   * before this resolves; one running on another instance sharing the store is asked through
   * the store and ends `cancelled` there shortly after (its stream's final event is
   * `outlast.error` `job-cancelled`). Resolves to `true` when the job was running, `false`
   * when it is unknown, expired or already settled.
   */
  cancelJob(jobId: string, reason?: string): Promise<boolean>;
  /** A job's record, or `null`. */
  getJob(jobId: string): Promise<JobRecord | null>;
  /** Fetch-style handler (Hono, Bun, Deno, Workers, Next.js): SSE and long-polling. */
  fetch(request: Request): Promise<Response>;
  /** Node handler (node:http, Express, Fastify): SSE and long-polling. */
  readonly handleNode: NodeHandler;
  /**
   * What the server holds now: connection slots by transport, sessions, timing-wheel
   * entries, store subscriptions, running jobs and settles still being written. Every count
   * returns to 0 once clients have gone and jobs have settled; anything else is a leak.
   */
  stats(): ServerStats;
  /**
   * Prepares a shutdown (call it on SIGTERM, then `close()`): new streams, polls and job
   * starts get 503 `draining` with `Retry-After`; every SSE and WebSocket reader gets
   * `outlast.rotate` and reconnects at once (to another instance behind the balancer); held
   * long-polls are answered now; running jobs may finish until `deadlineMs`, then end with
   * `job-interrupted` (never `cancelled`; safe to start again). Resolves when done.
   */
  drain(options?: DrainOptions): Promise<DrainReport>;
  /** Ends every connection (clients resume elsewhere), cancels running jobs. */
  close(): Promise<void>;
}

/** Creates a server; see {@link ServerOptions} for every option and its default. */
export function createOutlast(options: ServerOptions = {}): Outlast {
  const core = new ServerCore(options);
  const fetchHandler = createFetchHandler(core);
  const handleNode = createNodeHandler(core);
  const outlast: Outlast & { core: ServerCore } = {
    core,
    options: core.o,
    store: core.store,
    get connections() {
      return core.connections;
    },
    async publish(streamId, event) {
      return (await core.publish(streamId, event)).id;
    },
    end: (streamId, finalEvent) => core.end(streamId, finalEvent),
    startJob: (fn, jobOptions) => core.jobs.start(fn, jobOptions),
    cancelJob: (jobId, reason) => core.jobs.cancel(jobId, reason),
    getJob: (jobId) => core.store.getJob(jobId),
    // One argument only: frameworks call fetch(request, env, ctx), and env is no address.
    fetch: (request) => fetchHandler(request),
    handleNode,
    stats: () => core.stats(),
    drain: (drainOptions) => core.drain(drainOptions),
    close: () => core.close(),
  };
  return outlast;
}
