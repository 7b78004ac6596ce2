import { isOutlastError, OutlastError } from '../errors.js';
import type { ServerMetrics } from '../metrics/types.js';
import type { EventInput, JobRecord, Store } from '../store/types.js';
import { unrefTimer } from '../unref.js';

/** What a job function gets. */
export interface JobContext<I = unknown> {
  /** The job id (also its stream id). */
  readonly id: string;
  /** The input: the JSON body of `POST {base}/jobs/{name}`, or `startJob`'s `input`. */
  readonly input: I;
  /**
   * Who started the job: the identity `authorize` answered for the start request, or
   * `startJob`'s `identity`; `undefined` when none was given.
   */
  readonly identity: string | undefined;
  /**
   * Aborted when the job is cancelled (DELETE, `cancelJob`, or the `signal` option), and when
   * it is lost (its lease ran out: another instance has marked it `lost`; the reason is an
   * `OutlastError` with code `job-lost`). Nothing the job writes afterwards is kept.
   */
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
  /**
   * Names one job: while the key is claimed (from the start for as long as the job runs,
   * however long, then `resultTtlMs` from the moment it settles), starting with the same key, name and identity returns the job
   * started first (`created: false`) and the function does not run again, on any instance
   * sharing the store. The input of later starts is ignored. A job that ended `lost` does not
   * hold its key: a start with it runs the function again. @default none
   */
  idempotencyKey?: string;
  /**
   * Who starts the job: recorded (reading, fetching and cancelling it over HTTP then need the
   * same identity) and handed to the function as `context.identity`. @default none
   */
  identity?: string;
}

/** A started job. */
export interface JobHandle {
  /** Unguessable id: 128 random bits, base64url (22 characters). Also the stream id. */
  readonly id: string;
  /**
   * `false` when `idempotencyKey` named a job started earlier: this call started nothing and
   * the handle follows that job.
   */
  readonly created: boolean;
  /** Resolves to the final record once the job has settled (never rejects). */
  readonly settled: Promise<JobRecord>;
  /** Cancels the job; resolves to `false` when it had already settled. */
  cancel(reason?: string): Promise<boolean>;
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

/**
 * Thrown by a job function to fail with a code of its own and JSON details: the record's
 * `error` and the final `outlast.error` event carry `{ ...details, code, message }` instead of
 * the generic `job-failed` (the gateway's `upstream-status` with the upstream's `status`).
 * Public, like every `OutlastError`: readers see it as is.
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

/** A code an exposed error may carry to readers: lower-case words joined by dashes. */
const PUBLIC_CODE = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
/** Longest error message passed on to readers; longer ones are cut. */
const MAX_PUBLIC_MESSAGE = 1000;
/** What readers are told of an error the job did not mark public. */
export const GENERIC_FAILURE = 'the job failed; the server recorded the cause';

/**
 * The code and message readers may see of a job's error: an `OutlastError`'s, or those of an
 * error marked `expose: true` with a `code` of lower-case words and dashes (`'quota-exceeded'`);
 * `null` for every other error (its message may hold anything: paths, queries, secrets).
 */
export function publicError(error: unknown): { code: string; message: string } | null {
  let code: unknown;
  let message: unknown;
  if (error instanceof JobError) {
    const shown = publicError(new OutlastError(error.code, error.message));
    return shown === null ? null : { ...error.details, ...shown };
  }
  if (error instanceof OutlastError) ({ code, message } = error);
  else if (typeof error === 'object' && error !== null && 'expose' in error && error.expose) {
    ({ code, message } = error as { code?: unknown; message?: unknown });
  } else return null;
  if (typeof code !== 'string' || code.length > 64 || !PUBLIC_CODE.test(code)) return null;
  const text = typeof message === 'string' && message !== '' ? message : code;
  return { code, message: text.slice(0, MAX_PUBLIC_MESSAGE) };
}

/** The result as readers will see it (`JSON.parse` of its encoding), or `null` if unencodable. */
function encodeResult(value: unknown): { result: unknown; data: string } | null {
  try {
    const data = JSON.stringify({ result: value === undefined ? null : value });
    const parsed = JSON.parse(data) as { result?: unknown };
    // A function or a symbol: JSON drops it without a word.
    if (!('result' in parsed)) return null;
    return { result: parsed.result, data };
  } catch {
    return null;
  }
}

/** How a job ended, as the runner learns it. */
type Outcome =
  | { state: 'succeeded'; value: unknown }
  | { state: 'failed'; error: unknown }
  | { state: 'cancelled'; reason: string }
  /** A drain's deadline passed: failed with `job-interrupted`, never `cancelled`. */
  | { state: 'interrupted'; reason: string };

interface Running {
  settle: (outcome: Outcome) => Promise<boolean>;
  fence: () => void;
  settled: Promise<JobRecord>;
}

/** What the runner needs from the server. */
export interface JobRunnerDeps {
  store: Store;
  metrics: ServerMetrics;
  resultTtlMs: number;
  maxRunningJobs: number;
  /** How long a settle that the store refuses is retried before the job is given up, ms. */
  settleRetryMs: number;
  now: () => number;
  /** Monotonic ms, for how long a settle has been retried. */
  monotonicNow: () => number;
  onError: (error: unknown) => void;
  publish: (streamId: string, event: string, data: unknown) => Promise<unknown>;
}

/** Longest pause between two attempts to settle, ms. */
const SETTLE_BACKOFF_CAP_MS = 1000;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs jobs decoupled from connections; see docs/server.md, "Jobs".
 *
 * Invariant: every started job settles exactly once (`settled` flips before any await), its
 * stream ends, and its record says what its readers saw: the record and the final event are
 * written together by one atomic store call ({@link Store.settleJob}), retried with bounded
 * backoff until the store takes it, and refused when the job was lost meanwhile.
 */
export class JobRunner {
  private readonly running = new Map<string, Running>();
  /** Jobs counted against `maxRunningJobs`: reserved at the start, until their function returns. */
  private active = 0;
  private settling = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly stopListening: () => void;
  private readonly stopFenced: () => void;

  constructor(private readonly deps: JobRunnerDeps) {
    this.stopListening = deps.store.onCancel((jobId, reason) => {
      void this.running.get(jobId)?.settle({ state: 'cancelled', reason });
    });
    this.stopFenced = deps.store.onFenced((jobId) => this.running.get(jobId)?.fence());
  }

  /**
   * Where job ids come from. Internal: outlast/workers names each job's Durable Object by its
   * id, so the Worker draws the id (with {@link newJobId}) before the object starts the job.
   */
  newId: () => string = newJobId;

  /** Jobs whose function has not returned yet in this process (what `maxRunningJobs` counts). */
  get size(): number {
    return this.active;
  }

  /** Jobs settled here whose record and final event the store has not taken yet. */
  get pendingSettles(): number {
    return this.settling;
  }

  /** Starts `fn`; see {@link JobHandle}. */
  async start<I>(fn: JobFunction<I>, options: StartJobOptions<I> = {}): Promise<JobHandle> {
    // Reserved before the first await: concurrent starts cannot all pass the check.
    if (this.active >= this.deps.maxRunningJobs) {
      throw new OutlastError(
        'overloaded',
        'too many jobs are running (maxRunningJobs); retry later or raise the limit',
      );
    }
    this.active++;
    let running = false;
    try {
      const id = this.newId();
      let key: string | null = null;
      if (options.idempotencyKey !== undefined) {
        key = jobKey(options);
        const earlier = await this.claim(key, id);
        if (earlier !== null) return this.follow(earlier);
      }
      const handle = await this.run(id, key, fn, options);
      running = true;
      return handle;
    } finally {
      if (!running) this.active--;
    }
  }

  /** Claims `key` for `id`; the record of the job holding it already, or `null`. */
  private async claim(key: string, id: string): Promise<JobRecord | null> {
    const { store, resultTtlMs } = this.deps;
    for (let round = 0; round < 3; round++) {
      const holder = await store.claimJobKey(key, id, resultTtlMs);
      if (holder === null) return null;
      // The holder's start may still be between its claim and its record: wait a little.
      let record: JobRecord | null = null;
      for (let i = 0; i < 20 && record === null; i++) {
        record = await store.getJob(holder);
        if (record === null) await pause(50);
      }
      // A job that did not run to its end (lost, interrupted) does not hold its key: starting
      // again with it is the way to run the work after all.
      const unfinished = record?.state === 'lost' || record?.error?.code === 'job-interrupted';
      if (record !== null && !unfinished) return record;
      // Its start failed after the claim (crash, store error), or it was lost: take over.
      await store.refreshJobKey(key, holder, 0);
    }
    throw new OutlastError(
      'overloaded',
      'the idempotency key is held by a start that never completed; retry later',
    );
  }

  /** A handle on a job started earlier (an idempotent start that found it). */
  private follow(record: JobRecord): JobHandle {
    const local = this.running.get(record.id);
    const store = this.deps.store;
    let settled: Promise<JobRecord> | undefined;
    return {
      id: record.id,
      created: false,
      // Lazy: nothing polls for a caller that never asks.
      get settled() {
        settled ??= local?.settled ?? watchSettled(store, record);
        return settled;
      },
      cancel: (reason = 'cancelled') => this.cancel(record.id, reason),
    };
  }

  private async run<I>(
    id: string,
    key: string | null,
    fn: JobFunction<I>,
    options: StartJobOptions<I>,
  ): Promise<JobHandle> {
    const { store, metrics, now } = this.deps;
    const controller = new AbortController();
    const createdAt = now();
    const base: JobRecord = { id, state: 'running', createdAt, updatedAt: createdAt };
    if (options.name !== undefined) base.name = options.name;
    if (options.identity !== undefined) base.identity = options.identity;
    // The key stays claimed while the job runs, however long (every third of its TTL), and
    // `resultTtlMs` from its settling: a start retried late must not run the work again.
    const keyRefresher =
      key === null
        ? undefined
        : unrefTimer(
            setInterval(
              () => void store.refreshJobKey(key, id, this.deps.resultTtlMs).catch(() => {}),
              Math.max(1, Math.floor(this.deps.resultTtlMs / 3)),
            ),
          );
    try {
      await store.createJob(base);
    } catch (error) {
      clearInterval(keyRefresher);
      if (key !== null) await store.refreshJobKey(key, id, 0).catch(() => {});
      throw error;
    }
    metrics.job('started');
    let settled = false;
    let resolveSettled!: (record: JobRecord) => void;
    const settledPromise = new Promise<JobRecord>((resolve) => {
      resolveSettled = resolve;
    });
    const done = (record: JobRecord) => {
      this.running.delete(id);
      if (this.running.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      clearInterval(keyRefresher);
      if (key !== null) {
        store.refreshJobKey(key, id, this.deps.resultTtlMs).catch(() => {});
      }
      resolveSettled(record);
    };

    const settle = async (outcome: Outcome): Promise<boolean> => {
      if (settled) return false;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      const { record, final } = this.finalOf(base, outcome);
      if (outcome.state === 'cancelled' || outcome.state === 'interrupted') {
        const code = outcome.state === 'cancelled' ? 'job-cancelled' : 'job-interrupted';
        controller.abort(new OutlastError(code, record.error!.message));
      }
      const stored = await this.persist(record, final);
      if (stored.state !== 'lost') metrics.job(stored.state as 'succeeded');
      done(stored);
      return true;
    };

    const fence = () => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      const lost = lostRecord(base, now(), 'its lease ran out before it settled');
      controller.abort(new OutlastError('job-lost', lost.error!.message));
      store.getJob(id).then(
        (record) => done(record ?? lost),
        () => done(lost),
      );
    };

    const onAbort = () =>
      void settle({ state: 'cancelled', reason: String(options.signal?.reason ?? 'aborted') });
    this.running.set(id, { settle, fence, settled: settledPromise });
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const context: JobContext<I> = {
      id,
      input: options.input as I,
      identity: options.identity,
      signal: controller.signal,
      progress: async (data, event = 'progress') => {
        if (settled) return;
        await this.deps.publish(id, event, data);
      },
    };
    // Detached from the caller (and so from any connection): it runs until it settles. It
    // counts against maxRunningJobs until the function returns, even once cancelled.
    Promise.resolve()
      .then(() => fn(context))
      .then(
        (value) => ({ state: 'succeeded', value }) as const,
        (error: unknown) => ({ state: 'failed', error }) as const,
      )
      .then((outcome) => {
        this.active--;
        return settle(outcome);
      });

    return {
      id,
      created: true,
      settled: settledPromise,
      cancel: (reason = 'cancelled') => settle({ state: 'cancelled', reason }),
    };
  }

  /** The record and final event of an outcome; reports errors readers are not told about. */
  private finalOf(base: JobRecord, outcome: Outcome): { record: JobRecord; final: EventInput } {
    const record: JobRecord = { ...base, updatedAt: this.deps.now() };
    if (outcome.state === 'succeeded') {
      const encoded = encodeResult(outcome.value);
      if (encoded !== null) {
        record.state = 'succeeded';
        record.result = encoded.result;
        return { record, final: { event: 'outlast.result', data: encoded.data } };
      }
      this.deps.onError(
        new OutlastError(
          'job-result-unencodable',
          `job ${base.id} returned a value JSON cannot encode`,
        ),
      );
      record.state = 'failed';
      record.error = {
        code: 'job-result-unencodable',
        message:
          'the job returned a value JSON cannot encode (a BigInt, a cycle, a function); return JSON data',
      };
    } else if (outcome.state === 'cancelled') {
      record.state = 'cancelled';
      record.error = { code: 'job-cancelled', message: `job cancelled: ${outcome.reason}` };
    } else if (outcome.state === 'interrupted') {
      // Failed with a code of its own, never `cancelled`: a client knows it may start it again.
      record.state = 'failed';
      record.error = {
        code: 'job-interrupted',
        message: `job interrupted: ${outcome.reason}; safe to start again`,
      };
    } else {
      record.state = 'failed';
      const shown = publicError(outcome.error);
      if (shown === null) this.deps.onError(outcome.error);
      record.error = shown ?? { code: 'job-failed', message: GENERIC_FAILURE };
    }
    return { record, final: { event: 'outlast.error', data: JSON.stringify(record.error) } };
  }

  /**
   * Writes the record and final event, retrying with bounded backoff while the store fails.
   * Resolves to the record readers see: ours, or the store's when the job was lost meanwhile.
   */
  private async persist(record: JobRecord, final: EventInput): Promise<JobRecord> {
    const { store, resultTtlMs, settleRetryMs } = this.deps;
    this.settling++;
    const started = this.deps.monotonicNow();
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return (await store.settleJob(record, resultTtlMs, final)) ?? record;
        } catch (error) {
          if (attempt === 0) this.deps.onError(error);
          // A closed store never comes back; any other failure may pass.
          if (isOutlastError(error, 'store-closed')) break;
          if (this.deps.monotonicNow() - started >= settleRetryMs) break;
          const delay = Math.min(SETTLE_BACKOFF_CAP_MS, 25 * 2 ** Math.min(attempt, 10));
          await pause(delay / 2 + Math.random() * (delay / 2));
        }
      }
    } finally {
      this.settling--;
    }
    // Given up: the store marks the job lost (at once, or once its lease runs out), so its
    // readers are told and its record agrees.
    const lost = lostRecord(record, this.deps.now(), 'its outcome could not be stored');
    store.abandonJob(record.id);
    return lost;
  }

  /**
   * Cancels a job wherever it runs. A job running in this process is settled `cancelled`
   * before this resolves; one running elsewhere is asked through the store
   * ({@link Store.requestCancel}) and settles `cancelled` on its owner shortly after.
   * Resolves to `true` when the job was running, `false` when it is unknown or already settled.
   */
  async cancel(id: string, reason = 'cancelled by request'): Promise<boolean> {
    const job = this.running.get(id);
    if (job !== undefined) return job.settle({ state: 'cancelled', reason });
    return this.deps.store.requestCancel(id, reason);
  }

  /**
   * Resolves once no job runs here (every one settled and stored), or after `timeoutMs`;
   * `true` when none runs.
   */
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
      [...this.running.values()].map((job) => job.settle({ state: 'interrupted', reason })),
    );
    return ended.filter(Boolean).length;
  }

  /** Stops taking cancel requests and cancels every job running here (server shutdown). */
  async close(reason: string): Promise<void> {
    this.stopListening();
    this.stopFenced();
    await Promise.all(
      [...this.running.values()].map((job) => job.settle({ state: 'cancelled', reason })),
    );
  }
}

/** The key a start claims: the client's key, scoped by identity and handler name. */
function jobKey(options: StartJobOptions<unknown>): string {
  return JSON.stringify([options.identity ?? null, options.name ?? null, options.idempotencyKey]);
}

function lostRecord(base: JobRecord, now: number, why: string): JobRecord {
  return {
    ...base,
    state: 'lost',
    updatedAt: now,
    error: { code: 'job-lost', message: `job ${base.id} was lost: ${why}; start it again` },
  };
}

/** Resolves once the job's record has settled (polled: for handles on jobs started elsewhere). */
async function watchSettled(store: Store, record: JobRecord): Promise<JobRecord> {
  let last = record;
  for (;;) {
    if (last.state !== 'running') return last;
    await pause(250);
    const now = await store.getJob(record.id).catch(() => last);
    if (now === null) return lostRecord(last, Date.now(), 'its record expired');
    last = now;
  }
}
