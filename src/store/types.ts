/**
 * The store contract: where streams (ordered, epoch-stamped event logs) and job records live.
 * The in-memory store is the embedded default; a Redis Streams store implements the same
 * interface, and one shared test suite (`test/store/store-suite.ts`) runs against every store.
 *
 * Every method is async so a networked store fits. A store never throws for a client's bad
 * input (a malformed id is a `gap`, an unknown stream is `null`): it throws only for misuse and
 * for its own limits, as `OutlastError`.
 */

/** What a producer hands to {@link Store.append}: the event type and its data, already text. */
export interface EventInput {
  /** Event type. `message` is the SSE default. Types beginning with `outlast.` are reserved. */
  event: string;
  /** Data as sent on the wire (the SSE `data:` lines, the WebSocket `data` string). */
  data: string;
}

/** An event as the store keeps it. */
export interface StoredEvent extends EventInput {
  /** Opaque id `{epoch}:{seq}`; clients send it back to resume. */
  readonly id: string;
  /** Strictly increasing inside one epoch of one stream, starting at 1. */
  readonly seq: number;
  /** When it was appended (store clock, Unix ms). */
  readonly time: number;
}

/**
 * How a read position was understood:
 * `fresh` no id given; `recovered` the id is known and every later event follows;
 * `gap` the events right after the id are not available (see {@link GapReason}).
 */
export type ResumeOutcome = 'fresh' | 'recovered' | 'gap';

/**
 * Why a read could not continue right after the requested id:
 * `evicted` it is older than what is retained (count, bytes or age retention);
 * `epoch` it belongs to another incarnation of the stream (history lost, stream recreated);
 * `malformed` it is not an id this store produces; `unknown` it is of this epoch but newer
 * than anything appended (a forged or foreign id).
 */
export type GapReason = 'evicted' | 'epoch' | 'malformed' | 'unknown';

/** The gap notice a client receives. */
export interface GapInfo {
  /** The id the client asked to resume after. */
  requested: string;
  /**
   * The id of the first event it will receive, or `null` if none is there yet: the oldest
   * retained one; for an id a Redis restart rolled back, the first one appended after the
   * restart (the reader has what Redis kept before it).
   */
  resumeFrom: string | null;
  reason: GapReason;
}

/** The answer of {@link Store.read}. */
export interface ReadResult {
  /** Events after the position, oldest first, at most `limit`. */
  events: StoredEvent[];
  resume: ResumeOutcome;
  /** Set when `resume` is `gap`. */
  gap: GapInfo | null;
  /** The stream's current epoch. */
  epoch: string;
  /** The stream has ended: nothing will be appended any more. */
  ended: boolean;
  /**
   * The stream has ended and `events` reaches its last event (or the position already was
   * the last event): the reader has everything.
   */
  done: boolean;
}

/** Facts about one stream, without its events. */
export interface StreamInfo {
  epoch: string;
  /** Id of the oldest retained event, or `null` when none is retained. */
  firstId: string | null;
  /** Id of the newest event ever appended in this epoch (retained or not), or `null`. */
  lastId: string | null;
  /** Retained events. */
  length: number;
  /** Retained bytes (UTF-8 of type and data, roughly). */
  bytes: number;
  ended: boolean;
}

/** Receives a stream's live events, in order, after {@link Store.subscribe}. */
export interface StoreListener {
  /** One appended event. Called in append order; never for events appended before subscribe. */
  event(event: StoredEvent): void;
  /** The stream ended; called once, after its final event. */
  end(): void;
  /**
   * The stream's history was lost while subscribed (evicted, flushed): the reader must start
   * over (it will get a gap). Called at most once; no call follows it.
   */
  lost(): void;
}

/** Stops a subscription. Safe to call more than once. */
export type Unsubscribe = () => void;

/** State of a job, see `docs/protocol.md`. */
export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'lost';

/** A job's record, as `GET {base}/jobs/{id}` returns it. */
export interface JobRecord {
  id: string;
  /** Registered handler name, when started over HTTP. */
  name?: string;
  state: JobState;
  /** The job function's resolved value (JSON-serialisable), once `succeeded`. */
  result?: unknown;
  /** Code and message, once `failed` or `cancelled`. */
  error?: { code: string; message: string };
  /** Unix ms. */
  createdAt: number;
  /** Unix ms. */
  updatedAt: number;
  /**
   * Who started it: the identity the server's `authorize` hook answered for the start request
   * (absent when it answered `true`). Reading, fetching and cancelling the job then need the
   * same identity. Not served over HTTP.
   */
  identity?: string;
}

/** Where streams and job records live. See the file comment for the contract. */
export interface Store {
  /**
   * Creates the stream if it does not exist (a new epoch); does nothing otherwise.
   * @throws {OutlastError} `store-full` when the store is at its stream limit and nothing can
   *   be evicted.
   */
  create(streamId: string): Promise<StreamInfo>;
  /**
   * Appends one event (creating the stream if needed), applies count and byte retention, and
   * hands the event to live subscribers before resolving.
   * @throws {OutlastError} `stream-ended` after {@link Store.end}; `store-full` as in `create`.
   */
  append(streamId: string, event: EventInput): Promise<StoredEvent>;
  /**
   * Ends the stream, after appending `finalEvent` when given. Subscribers get the final
   * event, then `end()`. Ending an ended stream does nothing and resolves to `null`.
   * Creates the stream if needed (an empty, ended stream).
   */
  end(streamId: string, finalEvent?: EventInput): Promise<StoredEvent | null>;
  /**
   * Reads events after `afterId` (`null`: from the oldest retained), at most `limit`
   * (default: all retained). Resolves to `null` for an unknown stream.
   */
  read(streamId: string, afterId: string | null, limit?: number): Promise<ReadResult | null>;
  /** Facts about a stream, or `null` if unknown. */
  info(streamId: string): Promise<StreamInfo | null>;
  /**
   * Delivers events appended from now on. To read without loss: subscribe, then `read`, then
   * skip live events whose `seq` is not above the last one read.
   * @throws {OutlastError} `unknown-stream` if the stream does not exist.
   */
  subscribe(streamId: string, listener: StoreListener): Promise<Unsubscribe>;
  /** Applies age retention now (count and bytes are applied on every append). */
  trim(streamId: string): Promise<void>;
  /** Deletes a stream and its events; subscribers get `lost()`. */
  delete(streamId: string): Promise<void>;
  /** Saves a job record; it expires `ttlMs` after this call (`null`: never). */
  setJob(record: JobRecord, ttlMs: number | null): Promise<void>;
  /** A job record, or `null` if unknown or expired. */
  getJob(jobId: string): Promise<JobRecord | null>;
  /**
   * Asks whichever process runs the job to cancel it: every {@link Store.onCancel} handler
   * registered on a store sharing this one's data gets `jobId` and `reason` (the memory store:
   * handlers on this store object, before the call resolves; the Redis store: handlers on every
   * instance using the same Redis and prefix, this one included, over Pub/Sub).
   * Resolves to `true` when the job's record is `running` and the request went out; `false`
   * when the job is unknown, expired or already settled (nothing to cancel). The request is
   * durable: it is also stored with the record, and the owner reads it back on its next lease
   * renewal, so a notification dropped in transit (a subscriber reconnecting) still cancels.
   * `true` does not mean the job has stopped yet (its record and its stream's final event say
   * when it has). A request for a job whose owner is gone reaches nobody; stores that track
   * leases mark such a job `lost` once its lease runs out.
   */
  requestCancel(jobId: string, reason: string): Promise<boolean>;
  /**
   * Registers `handler` for the cancel requests of every job (see {@link Store.requestCancel}),
   * whichever process made them. The job runner registers once and aborts the job if it runs
   * here; handlers ignore ids they do not run. A handler must not throw (a throw is ignored).
   */
  onCancel(handler: (jobId: string, reason: string) => void): Unsubscribe;
  /**
   * Starts a job: creates its stream (a new epoch) and saves `record` (state `running`) as
   * owned by this store object (the Redis store also takes a lease). Every later write about
   * the job goes through {@link Store.settleJob}, which only this owner may make.
   */
  createJob(record: JobRecord): Promise<void>;
  /**
   * Settles a job, atomically: saves `record` (expiring `ttlMs` after this call) and ends the
   * job's stream with `finalEvent`, only if the stored record is still `running` and owned
   * here. Resolves to the record stored afterwards: `record` when this call (or an earlier
   * attempt whose answer was lost) settled it; the stored one when the job had settled
   * otherwise (marked `lost` after its lease ran out, the writer is fenced); `null` when the
   * record is gone. Safe to retry.
   */
  settleJob(record: JobRecord, ttlMs: number, finalEvent: EventInput): Promise<JobRecord | null>;
  /**
   * Gives up a job whose settle could not be stored: this store object stops holding it, and
   * the job is marked `lost` (its stream ends with `job-lost`): at once where the store can,
   * otherwise once its lease runs out (the Redis store: by any instance).
   */
  abandonJob(jobId: string): void;
  /**
   * Claims an idempotency key for `jobId` for `ttlMs`, atomically across every instance
   * sharing the data. Resolves to `null` when the key is now `jobId`'s, or to the job id that
   * holds it already (that job must not be started again).
   */
  claimJobKey(key: string, jobId: string, ttlMs: number): Promise<string | null>;
  /**
   * Sets the remaining life of a claimed key to `ttlMs` when it still names `jobId`, or
   * releases it (`ttlMs` 0: a start that failed after its claim).
   */
  refreshJobKey(key: string, jobId: string, ttlMs: number): Promise<void>;
  /**
   * Registers `handler` for jobs this store object owns that are no longer its own: their
   * lease ran out (the owner could not renew it in time, another instance marked the job
   * `lost`). The runner aborts such a job; its writes are refused anyway. Stores without
   * leases never call it.
   */
  onFenced(handler: (jobId: string) => void): Unsubscribe;
  /** Stops background work (sweeps); the store is unusable afterwards. */
  close(): Promise<void>;
}
