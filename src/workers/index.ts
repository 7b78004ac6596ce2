/**
 * `outlast/workers`: outlast on Cloudflare Workers. A Worker shares no memory between
 * requests and ends a request's timers with its response, so each stream and each job lives
 * in a Durable Object of its own: its log in the object's storage, its readers (SSE,
 * WebSocket, long-polling) connected to the object, its heartbeats and rotation on the
 * object's timers, and a running job's work kept alive by the object's alarm. The Worker
 * entry routes `{base}/streams/{id}` and `{base}/jobs/...` to the right object (a job's
 * object is its stream's: the job id names both).
 * See docs/runtimes.md, "Cloudflare Workers".
 * @packageDocumentation
 */
import { coreOf, serveStandardSocket, upgradeFetch } from '../server/adapters/socket.js';
import { errorReply, type Reply } from '../server/http.js';
import { newJobId } from '../server/jobs.js';
import type { ServerOptions } from '../server/options.js';
import { createOutlast, type Outlast, type PublishInput } from '../server/outlast.js';
import { routeSegments } from '../server/routes.js';
import type { JobRecord } from '../store/types.js';
import { createDurableStore, type DurableStorage } from './store.js';

export { createDurableStore, type DurableStorage, type DurableStoreOptions } from './store.js';

/** The part of a Durable Object's `state` outlast uses. */
export interface DurableObjectStateLike {
  readonly storage: DurableStorage & {
    setAlarm(at: number): Promise<void>;
    deleteAlarm(): Promise<void>;
    deleteAll(): Promise<void>;
  };
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** The part of a Durable Object namespace binding outlast uses. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): { fetch(request: Request): Promise<Response> };
}

/** Options of {@link createOutlastObject}: the server's, less the store (the object's own). */
export interface OutlastObjectOptions extends Omit<ServerOptions, 'store'> {
  /** Events kept per stream; readers behind them get an `evicted` gap. @default 10_000 */
  maxEventsPerStream?: number;
  /**
   * While a job runs, its object sets an alarm this often, ms: the platform keeps an object
   * with a pending alarm alive, and an object that was restarted anyway wakes up and ends the
   * job's stream with `job-interrupted` (safe to start again) instead of leaving it open.
   * @default 10_000
   */
  keepAliveMs?: number;
}

/** Default values of the options only {@link createOutlastObject} has. */
export const outlastObjectDefaults = { maxEventsPerStream: 10_000, keepAliveMs: 10_000 } as const;

/** The header by which the Worker entry hands a new job's id to its object. */
const JOB_ID_HEADER = 'outlast-job-id';
/** Paths outside any base path: reachable only through the object's binding, never forwarded. */
const INTERNAL = 'https://outlast.internal';
const JOB_KEY = 'outlast/job';

interface WebSocketPairLike {
  new (): { 0: WebSocket; 1: WebSocket & { accept(): void } };
}

function pairOf(): WebSocketPairLike {
  const pair = (globalThis as { WebSocketPair?: WebSocketPairLike }).WebSocketPair;
  if (pair === undefined)
    throw new Error('outlast/workers: WebSocketPair is missing; run on Workers');
  return pair;
}

function json(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

/** The address Cloudflare saw the client at; the objects' default `clientAddress`. */
const cloudflareClientAddress = (request: Request): string | null =>
  request.headers.get('cf-connecting-ip');

/** The class of a Durable Object that holds one stream or one job; export it from your Worker. */
export type OutlastObjectClass = new (
  state: DurableObjectStateLike,
  env: unknown,
) => {
  fetch(request: Request): Promise<Response>;
  alarm(): Promise<void>;
};

/**
 * Makes the Durable Object class. `options` may be a function of the Worker's `env` (job
 * handlers that need bindings).
 */
export function createOutlastObject(
  options: OutlastObjectOptions | ((env: unknown) => OutlastObjectOptions) = {},
): OutlastObjectClass {
  return class OutlastObject {
    private readonly outlast: Outlast;
    private readonly keepAliveMs: number;
    /** Opens the gate of the job started here: its work begins in the alarm handler. */
    private release: (() => void) | undefined;
    private settled: Promise<unknown> | undefined;

    constructor(
      private readonly state: DurableObjectStateLike,
      env: unknown,
    ) {
      const o = typeof options === 'function' ? options(env) : options;
      const { maxEventsPerStream, keepAliveMs, ...server } = { ...outlastObjectDefaults, ...o };
      this.keepAliveMs = keepAliveMs;
      const store = createDurableStore(state.storage, { maxEventsPerStream, now: server.now });
      this.outlast = createOutlast({
        ...server,
        // Every request reaches a Worker through Cloudflare, which sets this header to the
        // client's address (a client cannot choose it), so it is the address to count by.
        clientAddress: server.clientAddress ?? cloudflareClientAddress,
        store,
      });
      this.gateJobs();
      void state.blockConcurrencyWhile(() => this.recover());
    }

    /*
     * Work started while answering the POST would belong to that request, and the platform
     * refuses I/O from a request that has answered: the job could not write to its readers.
     * So the job waits at a gate that the object's alarm opens, and its work runs in the
     * alarm handler, which lasts as long as the job (the platform bounds an alarm's wall time).
     */
    private gateJobs(): void {
      const jobs = coreOf(this.outlast).jobs;
      const start = jobs.start.bind(jobs);
      jobs.start = async (fn, startOptions) => {
        const gate = new Promise<void>((resolve) => {
          this.release = resolve;
        });
        const handle = await start(async (ctx) => {
          await gate;
          return fn(ctx);
        }, startOptions);
        this.settled = handle.settled;
        return handle;
      };
    }

    /**
     * A job whose record says running when the object starts was running in an instance of
     * this object that is gone (evicted, restarted, redeployed): its work is lost. Its record
     * and stream say so, so readers end instead of waiting for ever.
     */
    private async recover(): Promise<void> {
      const jobId = await this.state.storage.get<string>(JOB_KEY);
      if (jobId === undefined) return;
      const store = this.outlast.store;
      const record = await store.getJob(jobId);
      if (record === null || record.state !== 'running') return;
      const error = {
        code: 'job-interrupted',
        message: 'job interrupted: the object running it was restarted; safe to start again',
      };
      const failed: JobRecord = { ...record, state: 'failed', error, updatedAt: Date.now() };
      await store.setJob(failed, this.outlast.options.resultTtlMs);
      await store.end(jobId, { event: 'outlast.error', data: JSON.stringify(error) });
      await this.state.storage.setAlarm(Date.now() + this.outlast.options.resultTtlMs);
    }

    async fetch(request: Request): Promise<Response> {
      const url = new URL(request.url);
      if (url.origin === INTERNAL) return this.internal(url.pathname, request);
      const core = coreOf(this.outlast);
      if (request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
        const answer = await upgradeFetch(core, request, (admission) => {
          const Pair = pairOf();
          const pair = new Pair();
          const server = pair[1];
          server.accept();
          serveStandardSocket(core, admission, server);
          return new Response(null, { status: 101, webSocket: pair[0] } as ResponseInit);
        });
        if (answer !== null && answer !== undefined) return answer;
      }
      const jobId = request.headers.get(JOB_ID_HEADER);
      if (request.method === 'POST' && jobId !== null) {
        // This object is named by this id: the job it starts must have it.
        core.jobs.newId = () => jobId;
        const response = await this.outlast.fetch(request);
        if (response.status === 202) {
          await this.state.storage.put({ [JOB_KEY]: jobId });
          await this.state.storage.setAlarm(Date.now());
        }
        return response;
      }
      return this.outlast.fetch(request);
    }

    private async internal(path: string, request: Request): Promise<Response> {
      try {
        const { streamId, event } = (await request.json()) as {
          streamId: string;
          event?: PublishInput;
        };
        if (path === '/publish') {
          return Response.json({ id: await this.outlast.publish(streamId, event ?? {}) });
        }
        if (path === '/end') {
          await this.outlast.end(streamId, event);
          return Response.json({});
        }
        return json(errorReply(404, 'unknown-route', `no internal route ${path}`));
      } catch (error) {
        const e = error as { code?: string; message?: string };
        return Response.json(
          { error: { code: e.code ?? 'invalid-field', message: String(e.message ?? error) } },
          { status: 400 },
        );
      }
    }

    /**
     * Runs the job started here to its end (a later alarm is set first, so an object restarted
     * meanwhile wakes up and says the job was interrupted); once it settled, forgets it after
     * `resultTtlMs`.
     */
    async alarm(): Promise<void> {
      const release = this.release;
      if (release !== undefined && this.settled !== undefined) {
        this.release = undefined;
        await this.state.storage.setAlarm(Date.now() + this.keepAliveMs);
        release();
        await this.settled;
      } else if (coreOf(this.outlast).jobs.size > 0) {
        await this.state.storage.setAlarm(Date.now() + this.keepAliveMs);
        return;
      }
      const now = Date.now();
      const jobId = await this.state.storage.get<string>(JOB_KEY);
      if (jobId === undefined) return;
      if ((await this.outlast.store.getJob(jobId)) === null) {
        await this.state.storage.deleteAll();
        return;
      }
      await this.state.storage.setAlarm(now + this.outlast.options.resultTtlMs);
    }
  };
}

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  /** Name of the Durable Object binding (wrangler.toml `durable_objects.bindings`). @default 'OUTLAST' */
  binding?: string;
  /** Path prefix, the same as the objects'. @default '/outlast' */
  basePath?: string;
  /** Serves requests outside the base path. @default 404 JSON */
  fallback?: (request: Request, env: unknown, ctx: unknown) => Response | Promise<Response>;
}

function namespaceOf(env: unknown, binding: string): DurableObjectNamespaceLike {
  const ns = (env as Record<string, DurableObjectNamespaceLike | undefined>)[binding];
  if (ns === undefined) {
    throw new Error(`outlast/workers: no Durable Object binding named ${binding} in env`);
  }
  return ns;
}

function stubOf(ns: DurableObjectNamespaceLike, name: string) {
  return ns.get(ns.idFromName(name) as never);
}

/** The object that holds stream `streamId` (a stream you publish to yourself). */
export function streamObject(ns: DurableObjectNamespaceLike, streamId: string) {
  return stubOf(ns, `s:${streamId}`);
}

async function internalCall(
  ns: DurableObjectNamespaceLike,
  path: string,
  streamId: string,
  event: PublishInput | undefined,
): Promise<unknown> {
  const response = await streamObject(ns, streamId).fetch(
    new Request(`${INTERNAL}${path}`, {
      method: 'POST',
      body: JSON.stringify({ streamId, event }),
    }),
  );
  const body = (await response.json()) as {
    id?: string;
    error?: { code: string; message: string };
  };
  if (body.error !== undefined) {
    throw Object.assign(new Error(body.error.message), { code: body.error.code });
  }
  return body;
}

/** Publishes to a stream held by its object; resolves to the event id. */
export async function publish(
  ns: DurableObjectNamespaceLike,
  streamId: string,
  event: PublishInput,
): Promise<string> {
  return ((await internalCall(ns, '/publish', streamId, event)) as { id: string }).id;
}

/** Ends a stream held by its object, after an optional final event. */
export async function end(
  ns: DurableObjectNamespaceLike,
  streamId: string,
  finalEvent?: PublishInput,
): Promise<void> {
  await internalCall(ns, '/end', streamId, finalEvent);
}

/**
 * The Worker entry (`export default createWorker()`): `{base}/streams/{id}` goes to that
 * stream's object, `POST {base}/jobs/{name}` to a new job's object (named by a fresh job id),
 * `{base}/jobs/{id}` and `{base}/jobs/{id}/events` to that job's object, `{base}/reports` to
 * one reports object.
 */
export function createWorker(options: WorkerOptions = {}): {
  fetch(request: Request, env: unknown, ctx?: unknown): Promise<Response>;
} {
  const binding = options.binding ?? 'OUTLAST';
  let base = options.basePath ?? '/outlast';
  if (!base.startsWith('/')) base = `/${base}`;
  if (base.endsWith('/')) base = base.slice(0, -1);
  return {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      const parts = routeSegments(base, url.pathname);
      if (parts === null) {
        if (options.fallback !== undefined) return options.fallback(request, env, ctx);
        return json(errorReply(404, 'unknown-route', `no route for ${url.pathname}`));
      }
      if (parts === 'bad') {
        return json(errorReply(400, 'bad-request', 'the path is not valid percent-encoding'));
      }
      const ns = namespaceOf(env, binding);
      const [first, second, third] = parts;
      const named = second !== undefined && second !== '';
      // Only the entry names a new job's id: a client's own copy of the header means nothing.
      const headers = new Headers(request.headers);
      headers.delete(JOB_ID_HEADER);
      let object: string;
      // A job's stream is the stream named by its id, as on every other runtime: one object.
      if (first === 'streams' && named && parts.length === 2) object = `s:${second}`;
      else if (first === 'jobs' && named && parts.length === 2 && request.method === 'POST') {
        const jobId = newJobId();
        headers.set(JOB_ID_HEADER, jobId);
        object = `s:${jobId}`;
      } else if (first === 'jobs' && named && (parts.length === 2 || third === 'events')) {
        object = `s:${second}`;
      } else if (first === 'reports' && parts.length === 1) object = 'reports';
      // Unknown routes: any object answers them the same way.
      else object = 'routes';
      return stubOf(ns, object).fetch(new Request(request, { headers }));
    },
  };
}
