import { OutlastError } from '../errors.js';
import type { ServerMetrics } from '../metrics/types.js';
import type { JobRecord, Store } from '../store/types.js';

/** What a job function gets. */
export interface JobContext<I = unknown> {
  /** The job id (also its stream id). */
  readonly id: string;
  /** The input: the JSON body of `POST {base}/jobs/{name}`, or `startJob`'s `input`. */
  readonly input: I;
  /** Aborted when the job is cancelled (DELETE, `cancelJob`, or the `signal` option). */
  readonly signal: AbortSignal;
  /**
   * Publishes a progress event to the job's stream (type `progress` unless given). Ignored
   * once the job has settled (a cancelled job that keeps running cannot write any more).
   */
  progress(data: unknown, event?: string): Promise<void>;
}

/** The work of a job; its resolved value (JSON-serialisable) becomes the job's result. */
export type JobFunction<I = unknown, R = unknown> = (context: JobContext<I>) => Promise<R> | R;

/** A job handler registered by name in the server's `jobs` option. */
// biome-ignore lint/suspicious/noExplicitAny: handlers validate their own JSON input.
export type JobHandler = JobFunction<any, unknown>;

/** Options of `startJob`. */
export interface StartJobOptions<I = unknown> {
  /** Handed to the function as `context.input`. @default undefined */
  input?: I;
  /** Cancels the job when aborted. @default none */
  signal?: AbortSignal;
  /** Recorded in the job record (`name`). @default none */
  name?: string;
}

/** A started job. */
export interface JobHandle {
  /** Unguessable id: 128 random bits, base64url (22 characters). Also the stream id. */
  readonly id: string;
  /** Resolves to the final record once the job has settled (never rejects). */
  readonly settled: Promise<JobRecord>;
  /** Cancels the job; resolves to `false` when it had already settled. */
  cancel(reason?: string): Promise<boolean>;
}

/**
 * Thrown by a job function to fail with a code of its own and JSON details: the record's
 * `error` and the final `outlast.error` event carry `{ ...details, code, message }` instead of
 * the generic `job-failed` (the gateway's `upstream-status` with the upstream's `status`).
 */
export class JobError extends OutlastError<string> {
  constructor(
    code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** 128 bits from the platform CSPRNG, base64url without padding. */
export function newJobId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  // btoa rather than Buffer: the core also runs on Workers, Deno and Bun.
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

interface Running {
  controller: AbortController;
  settle: (state: 'cancelled' | 'interrupted', message: string) => Promise<boolean>;
}

/** Runs jobs decoupled from connections; see docs/server.md, "Jobs". */
export class JobRunner {
  private readonly running = new Map<string, Running>();
  private readonly idleWaiters: (() => void)[] = [];
  /** Cancel requests from any instance sharing the store; those for jobs here abort them. */
  private readonly stopListening: () => void;

  constructor(
    private readonly deps: {
      store: Store;
      metrics: ServerMetrics;
      resultTtlMs: number;
      maxRunningJobs: number;
      now: () => number;
      onError: (error: unknown) => void;
      publish: (streamId: string, event: string, data: unknown) => Promise<unknown>;
    },
  ) {
    this.stopListening = deps.store.onCancel((jobId, reason) => {
      void this.running.get(jobId)?.settle('cancelled', reason);
    });
  }

  /**
   * Where job ids come from. Internal: outlast/workers names each job's Durable Object by its
   * id, so the Worker draws the id (with {@link newJobId}) before the object starts the job.
   */
  newId: () => string = newJobId;

  /** Jobs running now in this process. */
  get size(): number {
    return this.running.size;
  }

  /** Starts `fn`; see {@link JobHandle}. */
  async start<I>(fn: JobFunction<I>, options: StartJobOptions<I> = {}): Promise<JobHandle> {
    const { store, metrics, now } = this.deps;
    if (this.running.size >= this.deps.maxRunningJobs) {
      throw new OutlastError(
        'overloaded',
        `${this.running.size} jobs are running (maxRunningJobs); retry later or raise the limit`,
      );
    }
    const id = this.newId();
    const controller = new AbortController();
    const createdAt = now();
    const base: JobRecord = { id, state: 'running', createdAt, updatedAt: createdAt };
    if (options.name !== undefined) base.name = options.name;
    await store.create(id);
    await store.setJob(base, null);
    metrics.job('started');
    let settled = false;
    let resolveSettled!: (record: JobRecord) => void;
    const settledPromise = new Promise<JobRecord>((resolve) => {
      resolveSettled = resolve;
    });

    const settle = async (
      ending: 'succeeded' | 'failed' | 'cancelled' | 'interrupted',
      value: unknown,
    ): Promise<boolean> => {
      if (settled) return false;
      settled = true;
      this.running.delete(id);
      if (this.running.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      // Interrupted (drain deadline): failed with a code of its own, never `cancelled`, so a
      // client knows it may start it again.
      const state = ending === 'interrupted' ? 'failed' : ending;
      options.signal?.removeEventListener('abort', onAbort);
      const record: JobRecord = { ...base, state, updatedAt: now() };
      let final: { event: string; data: string };
      if (state === 'succeeded') {
        record.result = value === undefined ? null : value;
        final = { event: 'outlast.result', data: JSON.stringify({ result: record.result }) };
      } else {
        const code =
          ending === 'interrupted'
            ? 'job-interrupted'
            : state === 'cancelled'
              ? 'job-cancelled'
              : 'job-failed';
        const message =
          ending === 'interrupted'
            ? `job interrupted: ${String(value)}; safe to start again`
            : state === 'cancelled'
              ? `job cancelled: ${String(value)}`
              : value instanceof Error
                ? value.message
                : String(value);
        record.error =
          state === 'failed' && ending !== 'interrupted' && value instanceof JobError
            ? { ...value.details, code: value.code, message: value.message }
            : { code, message };
        final = { event: 'outlast.error', data: JSON.stringify(record.error) };
        if (state === 'cancelled' || ending === 'interrupted') {
          controller.abort(new OutlastError(code, message));
        }
      }
      metrics.job(state);
      try {
        await store.setJob(record, this.deps.resultTtlMs);
        await store.end(id, final);
      } catch (error) {
        this.deps.onError(error);
      }
      resolveSettled(record);
      return true;
    };

    const onAbort = () => void settle('cancelled', options.signal?.reason ?? 'aborted');
    this.running.set(id, {
      controller,
      settle: (state, message) => settle(state, message),
    });
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const context: JobContext<I> = {
      id,
      input: options.input as I,
      signal: controller.signal,
      progress: async (data, event = 'progress') => {
        if (settled) return;
        await this.deps.publish(id, event, data);
      },
    };
    // Detached from the caller (and so from any connection): it runs until it settles.
    Promise.resolve()
      .then(() => fn(context))
      .then(
        (result) => settle('succeeded', result),
        (error: unknown) => {
          if (!settled && !controller.signal.aborted) this.deps.onError(error);
          return settle('failed', error);
        },
      );

    return {
      id,
      settled: settledPromise,
      cancel: (reason = 'cancelled') => settle('cancelled', reason),
    };
  }

  /**
   * Cancels a job wherever it runs. A job running in this process is settled `cancelled`
   * before this resolves; one running elsewhere is asked through the store
   * ({@link Store.requestCancel}) and settles `cancelled` on its owner shortly after.
   * Resolves to `true` when the job was running, `false` when it is unknown or already settled.
   */
  async cancel(id: string, reason = 'cancelled by request'): Promise<boolean> {
    const job = this.running.get(id);
    if (job !== undefined) return job.settle('cancelled', reason);
    return this.deps.store.requestCancel(id, reason);
  }

  /** Resolves once no job runs here, or after `timeoutMs`; `true` when none runs. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        const at = this.idleWaiters.indexOf(wake);
        if (at !== -1) this.idleWaiters.splice(at, 1);
        resolve(value);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(this.running.size === 0), timeoutMs);
      this.idleWaiters.push(wake);
    });
  }

  /**
   * Ends every job running here with `job-interrupted` (a drain's deadline passed): its
   * signal is aborted, its record says `failed` with that code. Resolves to how many.
   */
  async interrupt(reason: string): Promise<number> {
    const ended = await Promise.all(
      [...this.running.values()].map((job) => job.settle('interrupted', reason)),
    );
    return ended.filter(Boolean).length;
  }

  /** Stops taking cancel requests and cancels every job running here (server shutdown). */
  async close(reason: string): Promise<void> {
    this.stopListening();
    await Promise.all([...this.running.values()].map((job) => job.settle('cancelled', reason)));
  }
}
