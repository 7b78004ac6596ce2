import { OutlastError } from '../errors.js';
import { noMetrics, type TransportName } from '../metrics/types.js';
import { createMemoryStore } from '../store/memory.js';
import type { StoredEvent } from '../store/types.js';
import { errorReply, type Incoming, type Reply } from './http.js';
import { JobRunner } from './jobs.js';
import {
  type AuthorizeAction,
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
  const text = typeof data === 'string' ? data : JSON.stringify(data ?? null);
  if (text === undefined)
    throw new OutlastError('invalid-field', 'event data is not JSON-serialisable');
  return { event: type, data: text };
}

/** Applies defaults and checks options; throws `invalid-option` naming the bad one. */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const o = { ...serverDefaults, ...options } as ResolvedOptions & ServerOptions;
  for (const [name, value] of Object.entries(serverDefaults)) {
    if (typeof value === 'number')
      positive(name, (o as unknown as Record<string, unknown>)[name], true);
  }
  if (o.maxStreamMs !== null) positive('maxStreamMs', o.maxStreamMs);
  positive('heartbeatTickMs', o.heartbeatTickMs);
  if (o.minHeartbeatMs > o.maxHeartbeatMs) {
    throw new OutlastError('invalid-option', 'minHeartbeatMs must not exceed maxHeartbeatMs');
  }
  let base = o.basePath;
  if (!base.startsWith('/')) base = `/${base}`;
  if (base.endsWith('/')) base = base.slice(0, -1);
  return {
    ...o,
    basePath: base,
    store: options.store ?? createMemoryStore(),
    maxStreamMs: o.maxStreamMs ?? null,
    jobs: options.jobs ?? {},
    authorize: options.authorize,
    cors: options.cors ?? null,
    metrics: options.metrics ?? noMetrics,
    now: options.now ?? Date.now,
    onError: options.onError ?? ((error) => console.error('outlast:', error)),
  };
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
  readonly heartbeatCounts: Record<TransportName, number> = { sse: 0, ws: 0, poll: 0 };
  readonly jobs: JobRunner;
  readonly sessions = new Set<Session>();
  private readonly perStream = new Map<string, number>();
  private total = 0;
  closed = false;

  constructor(options: ServerOptions) {
    this.o = resolveOptions(options);
    this.store = this.o.store;
    this.metrics = this.o.metrics;
    this.maxBufferBytes = this.o.maxBufferBytes;
    this.readBatch = this.o.readBatch;
    this.now = this.o.now;
    this.wheel = new TimerWheel({ tickMs: this.o.heartbeatTickMs, now: this.now });
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
      now: this.now,
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
   * Takes a connection slot for `streamId`, or answers 429 (per stream) / 503 (in total).
   * The returned function releases it.
   */
  acquire(streamId: string): (() => void) | Reply {
    const retry = { 'retry-after': String(this.o.retryAfterSeconds) };
    if (this.closed) return errorReply(503, 'overloaded', 'the server is shutting down', retry);
    if (this.total >= this.o.maxConnections) {
      this.metrics.rejected('overloaded');
      return errorReply(
        503,
        'overloaded',
        `the server holds ${this.total} connections (maxConnections); retry after ${this.o.retryAfterSeconds} s`,
        retry,
      );
    }
    const count = this.perStream.get(streamId) ?? 0;
    if (count >= this.o.maxConnectionsPerStream) {
      this.metrics.rejected('too-many-connections');
      return errorReply(
        429,
        'too-many-connections',
        `stream has ${count} readers (maxConnectionsPerStream); retry after ${this.o.retryAfterSeconds} s`,
        retry,
      );
    }
    this.total++;
    this.perStream.set(streamId, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perStream.get(streamId) ?? 1) - 1;
      if (left === 0) this.perStream.delete(streamId);
      else this.perStream.set(streamId, left);
    };
  }

  /** Connections held now. */
  get connections(): number {
    return this.total;
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
    const hook = this.o.authorize;
    if (hook === undefined) return null;
    let decision: unknown;
    try {
      decision = await hook(inc.request(), streamId, action);
    } catch (error) {
      this.onError(error);
      decision = false;
    }
    if (decision === true) return null;
    const code = decision === 'unauthorized' ? 'unauthorized' : 'forbidden';
    this.metrics.rejected(code);
    return code === 'unauthorized'
      ? errorReply(401, 'unauthorized', 'authentication required to access this resource')
      : errorReply(403, 'forbidden', 'not allowed to access this resource');
  }

  /** Ends every session and cancels running jobs. */
  async close(): Promise<void> {
    this.closed = true;
    for (const session of [...this.sessions]) session.close('shutdown');
    this.wheel.clear();
    await this.jobs.close('server shutting down');
  }
}
