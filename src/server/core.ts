import { OutlastError } from '../errors.js';
import { noMetrics, type TransportName } from '../metrics/types.js';
import { createMemoryStore } from '../store/memory.js';
import type { StoredEvent, StoreListener, Unsubscribe } from '../store/types.js';
import { dataToJson } from '../wire/encoder.js';
import {
  addressKey,
  type ConnectionOwner,
  FORWARDING_HEADERS,
  KeyCounts,
  nobody,
} from './client-key.js';
import { errorReply, type Incoming, type Reply } from './http.js';
import { JobRunner } from './jobs.js';
import {
  type AuthorizeAction,
  clientLimitShares,
  type ResolvedOptions,
  type ServerOptions,
  serverDefaults,
} from './options.js';
import { TimerWheel } from './scheduler.js';
import type { Session, SessionHub } from './session.js';

function positive(name: string, value: unknown, allowZero = false): void {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (!allowZero && value === 0)
  ) {
    throw new OutlastError(
      'invalid-option',
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`,
    );
  }
}

function checkType(type: string): string {
  if (type.startsWith('outlast.')) {
    throw new OutlastError(
      'reserved-event-type',
      `event type "${type}" is reserved (types beginning with "outlast." are the protocol's); pick another`,
    );
  }
  return type;
}

function toInput(type: string, data: unknown): { event: string; data: string } {
  if (/[\r\n]/.test(type)) {
    throw new OutlastError('invalid-field', `event type ${JSON.stringify(type)} contains CR or LF`);
  }
  const text = typeof data === 'string' ? data : dataToJson(data ?? null);
  return { event: type, data: text };
}

/**
 * A per-client limit: unset, a share of `maxConnections`; `null`, 0 or `Infinity`, none
 * (`Infinity`); else a positive integer.
 */
function clientLimit(
  name: keyof typeof clientLimitShares,
  value: number | null | undefined,
  maxConnections: number,
): number {
  if (value === undefined) return Math.ceil(maxConnections / clientLimitShares[name]);
  if (value === null || value === 0 || value === Number.POSITIVE_INFINITY) {
    return Number.POSITIVE_INFINITY;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new OutlastError(
      'invalid-option',
      `${name} must be a positive integer (null, 0 or Infinity: no limit), got ${String(value)}`,
    );
  }
  return value;
}

/** `performance.now` where the runtime has it, else the wall clock (bare V8 isolates). */
function defaultMonotonicNow(): () => number {
  const perf = (globalThis as { performance?: { now(): number } }).performance;
  return perf === undefined ? Date.now : () => perf.now();
}

/** Applies defaults and checks options; throws `invalid-option` naming the bad one. */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const o = { ...serverDefaults, ...options } as ResolvedOptions & ServerOptions;
  for (const [name, value] of Object.entries(serverDefaults)) {
    if (typeof value === 'number')
      positive(name, (o as unknown as Record<string, unknown>)[name], true);
  }
  if (o.maxStreamMs !== null) positive('maxStreamMs', o.maxStreamMs);
  if (options.clientAddress != null && typeof options.clientAddress !== 'function') {
    throw new OutlastError('invalid-option', 'clientAddress must be a function (request, peer)');
  }
  positive('heartbeatTickMs', o.heartbeatTickMs);
  if (o.minHeartbeatMs > o.maxHeartbeatMs) {
    throw new OutlastError('invalid-option', 'minHeartbeatMs must not exceed maxHeartbeatMs');
  }
  const cors = options.cors;
  if (cors != null && (cors.origin ?? '*') === '*' && cors.credentials === true) {
    throw new OutlastError(
      'invalid-option',
      "cors.origin '*' cannot be combined with credentials: list the allowed origins (a string, an array or a predicate)",
    );
  }
  if (cors?.allowedHeaders !== undefined) {
    for (const name of cors.allowedHeaders) {
      if (typeof name !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        throw new OutlastError(
          'invalid-option',
          `cors.allowedHeaders must list header names, got ${JSON.stringify(name)}`,
        );
      }
    }
  }
  let base = o.basePath;
  if (!base.startsWith('/')) base = `/${base}`;
  if (base.endsWith('/')) base = base.slice(0, -1);
  return {
    ...o,
    basePath: base,
    store: options.store ?? createMemoryStore(),
    maxStreamMs: o.maxStreamMs ?? null,
    maxConnectionsPerAddress: clientLimit(
      'maxConnectionsPerAddress',
      options.maxConnectionsPerAddress,
      o.maxConnections,
    ),
    maxConnectionsPerIdentity: clientLimit(
      'maxConnectionsPerIdentity',
      options.maxConnectionsPerIdentity,
      o.maxConnections,
    ),
    clientAddress: options.clientAddress ?? null,
    jobs: options.jobs ?? {},
    authorize: options.authorize,
    cors: options.cors ?? null,
    metrics: options.metrics ?? noMetrics,
    now: options.now ?? Date.now,
    monotonicNow: options.monotonicNow ?? defaultMonotonicNow(),
    onError: options.onError ?? ((error) => console.error('outlast:', error)),
  };
}

/** Options of `Outlast.drain`. */
export interface DrainOptions {
  /**
   * How long running jobs may go on finishing, ms; then they end with `job-interrupted`.
   * Keep it below the platform's grace period (Kubernetes `terminationGracePeriodSeconds`
   * 30 s, ECS `stopTimeout` 30 s).
   * @default 20_000
   */
  deadlineMs?: number;
}

/** Default values of {@link DrainOptions}. */
export const drainDefaults = { deadlineMs: 20_000 } as const;

/** What a drain did. */
export interface DrainReport {
  /** SSE and WebSocket readers sent `outlast.rotate`. */
  rotated: number;
  /** Held long-polls answered at once. */
  polls: number;
  /** Jobs that finished by themselves before the deadline. */
  jobsFinished: number;
  /** Jobs ended with `job-interrupted` at the deadline. */
  jobsInterrupted: number;
  /** How long the drain took, ms. */
  ms: number;
}

/** What a server holds now; see `Outlast.stats`. */
export interface ServerStats {
  /** Connection slots taken, by transport (SSE and WebSocket readers, held long-polls). */
  connections: Record<TransportName, number>;
  /** Streaming sessions (SSE, WebSocket) registered. */
  sessions: number;
  /** Entries in the heartbeat/rotation timing wheel. */
  wheelEntries: number;
  /** Store subscriptions held by sessions and held polls. */
  storeSubscriptions: number;
  /** Jobs running in this process. */
  runningJobs: number;
  /** Settled jobs whose final record or event is still being written. */
  pendingSettles: number;
  /** Client addresses holding connections (counted for `maxConnectionsPerAddress`). */
  addresses: number;
  /** Identities holding connections (counted for `maxConnectionsPerIdentity`). */
  identities: number;
}

/** Shared state of one server: sessions, connection counts, jobs. Internal. */
export class ServerCore implements SessionHub {
  readonly o: ResolvedOptions;
  readonly store;
  readonly wheel: TimerWheel;
  readonly metrics;
  readonly maxBufferBytes: number;
  readonly readBatch: number;
  readonly now: () => number;
  readonly monotonicNow: () => number;
  readonly heartbeatCounts: Record<TransportName, number> = { sse: 0, ws: 0, poll: 0 };
  readonly jobs: JobRunner;
  readonly sessions = new Set<Session>();
  private readonly perStream = new KeyCounts();
  private readonly perAddress = new KeyCounts();
  private warnedProxyAddress = false;
  private readonly perIdentity = new KeyCounts();
  private readonly perTransport: Record<TransportName, number> = { sse: 0, ws: 0, poll: 0 };
  private total = 0;
  private subscriptions = 0;
  /** Wakes of the long-polls held now (a drain answers them at once). */
  readonly heldPolls = new Set<() => void>();
  closed = false;
  draining = false;
  /** The default memory store belongs to this server; a store passed in belongs to the caller. */
  private readonly ownsStore: boolean;

  constructor(options: ServerOptions) {
    this.o = resolveOptions(options);
    this.store = this.o.store;
    this.ownsStore = options.store === undefined;
    this.metrics = this.o.metrics;
    this.maxBufferBytes = this.o.maxBufferBytes;
    this.readBatch = this.o.readBatch;
    this.now = this.o.now;
    this.monotonicNow = this.o.monotonicNow;
    // Monotonic: a wall-clock step (NTP, a VM resumed) must not stall or bunch heartbeats.
    this.wheel = new TimerWheel({ tickMs: this.o.heartbeatTickMs, now: this.monotonicNow });
    this.wheel.onTickEnd = () => {
      for (const name of ['sse', 'ws'] as const) {
        const count = this.heartbeatCounts[name];
        if (count > 0) {
          this.metrics.heartbeats(name, count);
          this.heartbeatCounts[name] = 0;
        }
      }
    };
    this.jobs = new JobRunner({
      store: this.store,
      metrics: this.metrics,
      resultTtlMs: this.o.resultTtlMs,
      maxRunningJobs: this.o.maxRunningJobs,
      settleRetryMs: this.o.settleRetryMs,
      now: this.now,
      monotonicNow: this.monotonicNow,
      onError: (error) => this.onError(error),
      publish: (streamId, event, data) => this.publish(streamId, { event, data }),
    });
  }

  onError(error: unknown): void {
    this.o.onError(error);
  }

  /** Appends a user event; see `Outlast.publish`. */
  async publish(streamId: string, event: { event?: string; data?: unknown }): Promise<StoredEvent> {
    return this.append(streamId, checkType(event.event ?? 'message'), event.data);
  }

  /** Appends without the reserved-type check (the protocol's own events). */
  async append(streamId: string, type: string, data: unknown): Promise<StoredEvent> {
    const stored = await this.store.append(streamId, toInput(type, data));
    this.metrics.published(1);
    return stored;
  }

  /** Ends a stream after an optional final user event. */
  async end(streamId: string, final?: { event?: string; data?: unknown }): Promise<void> {
    if (final === undefined) {
      await this.store.end(streamId);
      return;
    }
    const type = checkType(final.event ?? 'message');
    await this.store.end(streamId, toInput(type, final.data));
    this.metrics.published(1);
  }

  /**
   * Takes a connection slot for `streamId` held by `owner`, or answers 503 (in total) / 429
   * (per stream, per client address, per identity). The returned function releases it.
   */
  acquire(
    streamId: string,
    transport: TransportName,
    owner: ConnectionOwner = nobody,
  ): (() => void) | Reply {
    const refused = this.refuseWhileDraining();
    if (refused !== null) return refused;
    if (this.total >= this.o.maxConnections) {
      this.metrics.rejected('overloaded');
      // No counts in the messages: they would tell any client how loaded the server is.
      return this.limitReply(503, 'overloaded', 'the server is at its connection limit');
    }
    if (this.perStream.get(streamId) >= this.o.maxConnectionsPerStream) {
      this.metrics.rejected('too-many-connections');
      return this.limitReply(429, 'too-many-connections', 'the stream is at its reader limit');
    }
    const { address, identity } = owner;
    if (address !== null && this.perAddress.get(address) >= this.o.maxConnectionsPerAddress) {
      this.metrics.rejected('too-many-address-connections');
      if (owner.forwardedBy !== undefined) this.warnProxyAddress(address, owner.forwardedBy);
      return this.limitReply(
        429,
        'too-many-address-connections',
        'this client address holds as many connections as the server allows one address',
      );
    }
    if (
      identity !== undefined &&
      this.perIdentity.get(identity) >= this.o.maxConnectionsPerIdentity
    ) {
      this.metrics.rejected('too-many-identity-connections');
      return this.limitReply(
        429,
        'too-many-identity-connections',
        'this identity holds as many connections as the server allows one identity',
      );
    }
    this.total++;
    this.perTransport[transport]++;
    this.perStream.add(streamId);
    if (address !== null) this.perAddress.add(address);
    if (identity !== undefined) this.perIdentity.add(identity);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      this.perTransport[transport]--;
      this.perStream.remove(streamId);
      if (address !== null) this.perAddress.remove(address);
      if (identity !== undefined) this.perIdentity.remove(identity);
    };
  }

  /**
   * Tells the operator, once per server, that the per-address limit is counting a proxy:
   * behind one, every client shares its address until `clientAddress` reads the forwarded
   * one. Without this, clients get 429s that nothing on the server explains.
   */
  private warnProxyAddress(address: string, header: string): void {
    if (this.warnedProxyAddress) return;
    this.warnedProxyAddress = true;
    this.onError(
      new OutlastError(
        'address-limit-behind-proxy',
        `maxConnectionsPerAddress (${this.o.maxConnectionsPerAddress}) refused a connection from ${address}, which forwards for other clients (the request carried ${header}): every client behind it shares that limit. Set clientAddress to read the address your proxy adds (see docs/server.md, "Connection limits per client"), or maxConnectionsPerAddress: null.`,
      ),
    );
  }

  private limitReply(
    status: 429 | 503,
    code:
      | 'overloaded'
      | 'too-many-connections'
      | 'too-many-address-connections'
      | 'too-many-identity-connections',
    what: string,
  ): Reply {
    const after = this.o.retryAfterSeconds;
    return errorReply(status, code, `${what}; retry after ${after} s`, {
      'retry-after': String(after),
    });
  }

  /**
   * The owner of a connection `inc` asks for, as `identity` (from `authorize`): its address
   * from the `clientAddress` option (default: the peer), grouped by {@link addressKey}.
   */
  ownerOf(inc: Incoming, identity: string | undefined): ConnectionOwner {
    const peer = inc.peer ?? null;
    let address: string | null | undefined = peer;
    const hook = this.o.clientAddress;
    if (hook !== null) {
      try {
        address = hook(inc.request(), peer);
      } catch (error) {
        // A failing hook must not let the request escape the limit, nor fail it.
        this.onError(error);
        address = peer;
      }
    }
    const key = typeof address === 'string' && address !== '' ? addressKey(address) : null;
    if (hook === null && key !== null) {
      const forwardedBy = FORWARDING_HEADERS.find((name) => inc.header(name) !== null);
      if (forwardedBy !== undefined) return { address: key, identity, forwardedBy };
    }
    return { address: key, identity };
  }

  /** A 503 while the server drains or after it closed, else `null`. */
  refuseWhileDraining(): Reply | null {
    if (!this.draining && !this.closed) return null;
    this.metrics.rejected('overloaded');
    return errorReply(
      503,
      'draining',
      `the server is shutting down; retry after ${this.o.retryAfterSeconds} s (another instance will answer)`,
      { 'retry-after': String(this.o.retryAfterSeconds) },
    );
  }

  /** Connections held now. */
  get connections(): number {
    return this.total;
  }

  /**
   * Subscribes `listener` to the store, counted for {@link ServerCore.stats}. The returned
   * function is idempotent.
   */
  async subscribe(streamId: string, listener: StoreListener): Promise<Unsubscribe> {
    const unsubscribe = await this.store.subscribe(streamId, listener);
    this.subscriptions++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.subscriptions--;
      unsubscribe();
    };
  }

  /** What this server holds now; every count is 0 once clients and jobs are gone. */
  stats(): ServerStats {
    const jobs = this.jobs as JobRunner & { pendingSettles?: number };
    return {
      connections: { ...this.perTransport },
      sessions: this.sessions.size,
      wheelEntries: this.wheel.size,
      storeSubscriptions: this.subscriptions,
      runningJobs: this.jobs.size,
      pendingSettles: jobs.pendingSettles ?? 0,
      addresses: this.perAddress.size,
      identities: this.perIdentity.size,
    };
  }

  /** Registers a started session; `release` is its connection slot. */
  track(session: Session, release: () => void): void {
    this.sessions.add(session);
    session.releaseSlot = release;
  }

  release(session: Session): void {
    this.sessions.delete(session);
    session.releaseSlot?.();
    session.releaseSlot = undefined;
  }

  /** Runs the `authorize` hook; `null` means allowed. */
  async authorize(inc: Incoming, streamId: string, action: AuthorizeAction): Promise<Reply | null> {
    const outcome = await this.authorizeAs(inc, streamId, action);
    return 'status' in outcome ? outcome : null;
  }

  /** Runs the `authorize` hook: the refusal, or the identity it let the request through as. */
  async authorizeAs(
    inc: Incoming,
    streamId: string,
    action: AuthorizeAction,
  ): Promise<Reply | { identity: string | undefined }> {
    const hook = this.o.authorize;
    if (hook === undefined) return { identity: undefined };
    let decision: unknown;
    try {
      decision = await hook(inc.request(), streamId, action);
    } catch (error) {
      this.onError(error);
      decision = false;
    }
    if (decision === true) return { identity: undefined };
    const identity = (decision as { identity?: unknown } | null)?.identity;
    if (typeof identity === 'string' && identity !== '') return { identity };
    const code = decision === 'unauthorized' ? 'unauthorized' : 'forbidden';
    this.metrics.rejected(code);
    return code === 'unauthorized'
      ? errorReply(401, 'unauthorized', 'authentication required to access this resource')
      : errorReply(403, 'forbidden', 'not allowed to access this resource');
  }

  /** See `Outlast.drain`. */
  async drain(options: DrainOptions = {}): Promise<DrainReport> {
    const deadlineMs = options.deadlineMs ?? drainDefaults.deadlineMs;
    positive('deadlineMs', deadlineMs, true);
    const startedAt = this.monotonicNow();
    this.draining = true;
    const rotated = this.sessions.size;
    // Every reader reconnects at once, to another instance behind the balancer.
    for (const session of [...this.sessions]) session.rotateNow();
    const polls = this.heldPolls.size;
    for (const wake of [...this.heldPolls]) wake();
    const running = this.jobs.size;
    await this.jobs.idle(deadlineMs);
    const interrupted = await this.jobs.interrupt('the server drained before the job finished');
    return {
      rotated,
      polls,
      jobsFinished: running - interrupted,
      jobsInterrupted: interrupted,
      ms: Math.round(this.monotonicNow() - startedAt),
    };
  }

  /**
   * Ends every session and cancels running jobs. Closes the store only when this server
   * created it (the default memory store), so its sweep timer does not outlive the server.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const session of [...this.sessions]) session.close('shutdown');
    this.wheel.clear();
    await this.jobs.close('server shutting down');
    if (this.ownsStore) await this.store.close();
  }
}
