import { OutlastError } from '../errors.js';
import { Backoff } from './backoff.js';
import { type CutCause, type CutReport, classifyClose } from './causes.js';
import { Dedupe } from './dedupe.js';
import type { Emitter } from './emitter.js';
import { fetchJobRecord, fromRecord, JOB_ERROR, parseFinal, RESULT, statusError } from './job.js';
import { avoidTransport, type Lesson, learnDefaults, learnFromCut } from './learn.js';
import type { Clock, ConnectOptions } from './options.js';
import type { PathProfile, ProfileStore } from './profile.js';
import type { ReportBatcher } from './reports.js';
import { StallTimer, stallTimeout } from './stall.js';
import type {
  CloseInfo,
  FetchLike,
  Transport,
  TransportFactory,
  TransportHandlers,
  TransportName,
  WebSocketLike,
} from './transport.js';
import type { ClientEvent, ConnectionEvents } from './types.js';
import { attemptRequest } from './urls.js';

/** Options after defaults, as the session uses them. */
export type SessionOptions = Required<
  Omit<ConnectOptions, 'body' | 'signal' | 'profile' | 'WebSocket'>
> & { WebSocket: WebSocketLike | null; fetch: FetchLike; clock: Clock };

/** One connection attempt's bookkeeping. */
interface Attempt {
  transport: Transport;
  name: TransportName;
  startedAt: number;
  openedAt: number | null;
  lastByteAt: number | null;
  bytes: number;
  events: number;
  heartbeats: number;
  heartbeatMs: number | null;
  /** Burst detector: the previous heartbeat's server time and arrival time. */
  lastBeat: { server: number; local: number } | null;
  bursts: number;
}

/** Where the session delivers what the user sees; implemented by the connection. */
export interface SessionSink {
  emitter: Emitter<ConnectionEvents>;
  deliver(event: ClientEvent): void;
  finish(final: { result?: unknown; error?: OutlastError }): void;
  fail(error: OutlastError): void;
}

/** The most cuts kept for learning. */
const HISTORY = 20;
/** Heartbeats whose server times span this many intervals but arrive together: a burst. */
const BURSTS_FOR_BUFFERING = 2;

/**
 * The reconnect loop behind `connect()`: opens transports in turn, resumes with the last id,
 * drops duplicates, classifies every loss, backs off, reports, learns, and ends when the
 * stream ends. A generation counter makes every callback of a superseded transport a no-op.
 */
export class Session {
  lastEventId: string | null;
  outlast: boolean;
  current: TransportName;
  connections = 0;
  private gen = 0;
  private attempt: Attempt | null = null;
  private retryFloorMs = 0;
  private timer: unknown = null;
  private closed = false;
  private final: { result?: unknown; error?: OutlastError } | null = null;
  private readonly history: CutReport[] = [];
  private readonly dedupe: Dedupe;
  private readonly backoff: Backoff;
  private readonly stall: StallTimer;

  constructor(
    private readonly o: SessionOptions,
    private readonly streamUrl: string,
    private readonly resultUrl: string | null,
    readonly profile: PathProfile,
    private readonly store: ProfileStore | null,
    private readonly reports: ReportBatcher | null,
    private readonly factories: Record<TransportName, TransportFactory>,
    private readonly sink: SessionSink,
    start: TransportName,
    looksOutlast: boolean,
  ) {
    this.lastEventId = o.lastEventId;
    this.outlast =
      o.protocol === 'outlast' || (o.protocol === 'auto' && (profile.outlast || looksOutlast));
    this.current = start;
    this.dedupe = new Dedupe(o.dedupeWindow);
    this.backoff = new Backoff(o, o.random);
    this.stall = new StallTimer(o.clock, () => this.lose('stall', null));
  }

  /** Opens the next connection. */
  connect(): void {
    if (this.closed) return;
    this.timer = null;
    const gen = ++this.gen;
    const name = this.current;
    const { url, headers } = this.request(name);
    const live = <A extends unknown[]>(fn: (...args: A) => void) => {
      return (...args: A): void => {
        if (gen === this.gen && !this.closed) fn(...args);
      };
    };
    const handlers: TransportHandlers = {
      headers: live((info) => this.onHeaders(info)),
      open: live((info) => this.onOpen(info)),
      bytes: live((n) => {
        const a = this.attempt!;
        a.bytes += n;
        a.lastByteAt = this.o.clock.now();
        this.stall.touch();
      }),
      heartbeat: live((t) => this.onHeartbeat(t)),
      comment: live((text) => this.sink.emitter.emit('comment', { text, transport: name })),
      retry: live((ms) => {
        this.retryFloorMs = ms;
      }),
      event: live((e) => this.onEvent(e.id, e.lastEventId, e.type, e.data)),
      gap: live((g) => this.sink.emitter.emit('gap', g)),
      rotate: live(() => this.lose('server-rotation', null)),
      end: live(() => void this.onEnd()),
      closed: live((info) => this.lose(classifyClose(info, this.attempt?.openedAt != null), info)),
    };
    this.attempt = {
      transport: { name, close() {} },
      name,
      startedAt: this.o.clock.now(),
      openedAt: null,
      lastByteAt: null,
      bytes: 0,
      events: 0,
      heartbeats: 0,
      heartbeatMs: null,
      lastBeat: null,
      bursts: 0,
    };
    this.stall.arm(this.o.openTimeoutMs);
    this.attempt.transport = this.factories[name](
      {
        url,
        headers,
        lastEventId: this.lastEventId,
        pollWaitMs: this.pollWait(),
        currentLastEventId: () => this.lastEventId,
        fetch: this.o.fetch,
        WebSocket: this.o.WebSocket,
      },
      handlers,
    );
  }

  /** Stops for good (the user closed, or the stream ended). */
  close(reportAbort: boolean): void {
    if (this.closed) return;
    if (reportAbort && this.attempt !== null) this.record('client-abort', null);
    this.closed = true;
    this.gen++;
    this.stall.stop();
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.attempt?.transport.close();
    this.reports?.flush();
  }

  /** The heartbeat to ask for: the smaller of the option and the learned one. */
  private heartbeat(): number | null {
    const values = [this.o.heartbeatMs, this.profile.heartbeatMs].filter(
      (v): v is number => v !== null,
    );
    return values.length === 0 ? null : Math.min(...values);
  }

  private maxStream(name: TransportName): number | null {
    const values = [this.o.maxStreamMs, this.profile.maxStreamMs[name] ?? null].filter(
      (v): v is number => v !== null,
    );
    return values.length === 0 ? null : Math.min(...values);
  }

  private pollWait(): number {
    return Math.min(
      this.o.pollWaitMs,
      this.heartbeat() ?? Number.POSITIVE_INFINITY,
      this.maxStream('poll') ?? Number.POSITIVE_INFINITY,
    );
  }

  /** The URL and headers of an attempt over `name`. */
  private request(name: TransportName): { url: string; headers: Record<string, string> } {
    return attemptRequest(this.streamUrl, name, {
      outlast: this.outlast,
      lastEventId: this.lastEventId,
      heartbeatMs: this.heartbeat(),
      maxStreamMs: this.maxStream(name),
      headers: this.o.headers,
    });
  }

  private onHeaders(info: { heartbeatMs: number | null; outlast: boolean }): void {
    const a = this.attempt!;
    a.openedAt = this.o.clock.now();
    if (info.outlast && !this.profile.outlast && this.o.protocol !== 'sse') {
      this.outlast = true;
      this.profile.outlast = true;
      this.save();
    } else if (!info.outlast && a.name === 'sse' && this.o.protocol === 'auto') {
      // A plain SSE server after all: no outlast query parameters, no fallback from now on.
      this.outlast = false;
    }
    if (info.heartbeatMs !== null) this.watch(info.heartbeatMs);
    else if (a.name !== 'sse') this.stall.arm(this.o.openTimeoutMs);
    else this.stall.arm(this.o.stallTimeoutMs);
    if (!info.outlast && a.name === 'sse') {
      // A plain SSE server: no open notice will come; the response is the open.
      this.opened({ heartbeatMs: null, maxStreamMs: null, resume: null });
    }
  }

  private onOpen(info: {
    heartbeatMs: number | null;
    maxStreamMs: number | null;
    resume: string | null;
  }): void {
    if (info.heartbeatMs !== null) this.watch(info.heartbeatMs);
    this.opened(info);
  }

  private opened(info: {
    heartbeatMs: number | null;
    maxStreamMs: number | null;
    resume: string | null;
  }): void {
    this.connections++;
    this.sink.emitter.emit('open', {
      transport: this.attempt!.name,
      resume: info.resume,
      heartbeatMs: info.heartbeatMs,
      maxStreamMs: info.maxStreamMs,
      connections: this.connections,
    });
  }

  /** Arms stall detection for an announced heartbeat. */
  private watch(heartbeatMs: number): void {
    const a = this.attempt!;
    a.heartbeatMs = heartbeatMs;
    const k = this.o.stallFactor;
    this.stall.arm(
      a.name === 'poll' ? stallTimeout(this.pollWait(), 1 + k) : stallTimeout(heartbeatMs, k),
    );
  }

  private onHeartbeat(serverMs: number | null): void {
    const a = this.attempt!;
    a.heartbeats++;
    if (serverMs === null || a.name !== 'sse' || a.heartbeatMs === null) return;
    const now = this.o.clock.now();
    const prev = a.lastBeat;
    a.lastBeat = { server: serverMs, local: now };
    if (prev === null) return;
    // Heartbeats written an interval apart but read together were held by a hop and released
    // in a burst: buffering, which heartbeats cannot fix.
    const sent = serverMs - prev.server;
    if (sent >= a.heartbeatMs / 2 && now - prev.local < sent / 4) a.bursts++;
    if (a.bursts >= BURSTS_FOR_BUFFERING) {
      const lesson = avoidTransport(
        this.profile,
        'sse',
        'buffering',
        this.o.transports,
        'SSE heartbeats arrive in bursts',
        Date.now(),
      );
      this.lose('stall', null, [lesson]);
    }
  }

  private onEvent(id: string | undefined, lastId: string, type: string, data: string): void {
    const a = this.attempt!;
    a.events++;
    if (id !== undefined && id !== '') {
      if (this.dedupe.seen(id)) return;
      this.lastEventId = id;
    } else if (!this.outlast) {
      // [spec] A block without `id:` keeps the last event id; `id:` empty resets it.
      this.lastEventId = lastId === '' ? null : lastId;
    }
    if (type === RESULT || type === JOB_ERROR) {
      this.final = parseFinal(type, data);
      return;
    }
    this.sink.deliver({
      id: id ?? null,
      type,
      data,
      transport: a.name,
      lastEventId: this.lastEventId,
    });
  }

  /** The stream ended: settle, fetching the job's result when its final event was missed. */
  private async onEnd(): Promise<void> {
    this.close(false);
    if (this.final === null && this.resultUrl !== null) {
      const record = await fetchJobRecord(this.resultUrl, this.o.headers, this.o.fetch);
      if (record !== null) this.final = fromRecord(record);
    }
    this.sink.finish(this.final ?? {});
  }

  /** Records a lost connection: cut event, report, history. */
  private record(cause: CutCause, info: CloseInfo | null): CutReport {
    const a = this.attempt!;
    const now = this.o.clock.now();
    const opened = a.openedAt !== null;
    const report: CutReport = {
      cause,
      transport: a.name,
      atMs: Date.now(),
      sinceOpenMs: now - (a.openedAt ?? a.startedAt),
      sinceLastByteMs: now - (a.lastByteAt ?? a.openedAt ?? a.startedAt),
      sinceRequestMs: now - a.startedAt,
      origin: this.profile.origin,
      opened,
      bytes: a.bytes,
      events: a.events,
      heartbeats: a.heartbeats,
      heartbeatMs: a.heartbeatMs,
    };
    if (info?.status !== undefined) report.status = info.status;
    if (info?.server !== undefined && info.server !== null) report.server = info.server;
    if (info?.message !== undefined) report.message = info.message;
    this.sink.emitter.emit('cut', report);
    if (this.outlast) this.reports?.add(report);
    this.history.push(report);
    if (this.history.length > HISTORY) this.history.shift();
    return report;
  }

  /** A connection was lost: decide whether to stop, how to adapt, and when to reconnect. */
  private lose(cause: CutCause, info: CloseInfo | null, early: Lesson[] = []): void {
    if (this.closed || this.attempt === null) return;
    const a = this.attempt;
    this.gen++;
    this.stall.stop();
    a.transport.close();
    const report = this.record(cause, info);
    if (this.stopsHere(info, a.name)) return;

    const lessons = [...early];
    if (lessons.length === 0 && this.outlast && this.o.protocol !== 'sse') {
      if (this.o.learn) {
        lessons.push(
          ...learnFromCut(this.profile, report, this.history, this.settings(), Date.now()),
        );
      } else if (a.name === 'ws' && !report.opened) {
        // Falling back from a transport that cannot open is not learning: always on.
        lessons.push(
          avoidTransport(
            this.profile,
            'ws',
            'refused',
            this.o.transports,
            'WebSocket could not open',
            Date.now(),
          ),
        );
      }
    }
    for (const lesson of lessons) {
      this.sink.emitter.emit('learn', { ...lesson, profile: structuredClone(this.profile) });
      if (lesson.switchTo !== null && lesson.switchTo !== this.current) {
        this.sink.emitter.emit('transport', {
          from: this.current,
          to: lesson.switchTo,
          reason: lesson.note,
        });
        this.current = lesson.switchTo;
      }
    }
    if (lessons.length > 0) this.save();
    if (this.profile.avoid[this.current] !== undefined) {
      // Still on a transport this path refuses (every other one failed too): take the first
      // usable one, or go on with backoff when none is left.
      const usable = this.o.transports.find((t) => this.profile.avoid[t] === undefined);
      if (usable !== undefined) {
        this.sink.emitter.emit('transport', {
          from: this.current,
          to: usable,
          reason: 'avoided on this path',
        });
        this.current = usable;
      }
    }

    let delay: number;
    if (cause === 'server-rotation') {
      this.backoff.reset();
      delay = 0;
    } else if (lessons.length > 0) {
      // The path was wrong, not the network: try the new policy soon (jittered, no growth).
      this.backoff.reset();
      delay = this.o.random() * this.o.initialDelayMs;
    } else {
      this.backoff.lived(report.sinceOpenMs);
      if (this.o.maxRetries !== null && this.backoff.attempts >= this.o.maxRetries) {
        this.stop(
          new OutlastError(
            'max-retries-exceeded',
            `gave up after ${this.backoff.attempts} failed reconnects in a row (maxRetries); last cause: ${cause}`,
          ),
        );
        return;
      }
      const floor = Math.max(this.retryFloorMs, (info?.retryAfterS ?? 0) * 1000);
      delay = this.backoff.next(floor);
    }
    this.sink.emitter.emit('reconnecting', {
      cause,
      transport: this.current,
      delayMs: delay,
      attempt: this.backoff.attempts,
    });
    this.timer = this.o.clock.setTimeout(() => this.connect(), delay);
  }

  /** Statuses and answers that end the client instead of a reconnect. */
  private stopsHere(info: CloseInfo | null, name: TransportName): boolean {
    if (info === null || name === 'ws') return false;
    if (info.kind === 'status') {
      const s = info.status!;
      // [spec] 204 means: stop reconnecting. The stream is over.
      if (s === 204) {
        void this.onEnd();
        return true;
      }
      if (s === 404 && this.resultUrl !== null) {
        // The stream may have expired while the job's record is still kept.
        void this.settleFromRecord();
        return true;
      }
      if (s === 401 || s === 403 || s === 404 || s === 400) {
        this.stop(statusError(s, info.code ?? null, `reading ${this.streamUrl}`));
        return true;
      }
      return false;
    }
    if (info.kind === 'content-type' && !this.outlast) {
      this.stop(new OutlastError('unexpected-response', `${this.streamUrl}: ${info.message}`));
      return true;
    }
    if (info.kind === 'server-error' && info.code === 'unknown-stream') {
      this.stop(new OutlastError('unknown-stream', info.message ?? 'no such stream'));
      return true;
    }
    return false;
  }

  private async settleFromRecord(): Promise<void> {
    this.close(false);
    const record = await fetchJobRecord(this.resultUrl!, this.o.headers, this.o.fetch);
    if (record === null) {
      this.sink.fail(statusError(404, 'unknown-job', `reading ${this.streamUrl}`));
      return;
    }
    this.sink.finish(this.final ?? fromRecord(record));
  }

  private stop(error: OutlastError): void {
    this.close(false);
    this.sink.fail(error);
  }

  private settings() {
    return { ...learnDefaults, order: this.o.transports };
  }

  private save(): void {
    if (!this.o.learn || this.store === null) return;
    this.profile.updatedAt = Date.now();
    void Promise.resolve(this.store.set(this.profile)).catch(() => {});
  }
}
