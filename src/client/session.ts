import { OutlastError } from '../errors.js';
import { Attempt } from './attempt.js';
import { type CutCause, classifyClose } from './causes.js';
import { CutLog } from './cut-log.js';
import { Dedupe } from './dedupe.js';
import type { Emitter } from './emitter.js';
import { JOB_ERROR, parseFinal, RESULT, statusError } from './job.js';
import { type Lesson, nextTransport } from './learn.js';
import type { Clock, ConnectOptions } from './options.js';
import { PathLearner } from './path-learner.js';
import type { PathProfile, ProfileStore } from './profile.js';
import { ReconnectPolicy } from './reconnect-policy.js';
import type { ReportBatcher } from './reports.js';
import { StallTimer } from './stall.js';
import { PathTiming } from './timing.js';
import type {
  CloseInfo,
  FetchLike,
  OpenInfo,
  PollPace,
  TransportFactory,
  TransportHandlers,
  TransportName,
  WebSocketLike,
} from './transport.js';
import { TransportChoice } from './transport-choice.js';
import type { ClientEvent, ConnectionEvents } from './types.js';
import { attemptRequest } from './urls.js';

/** Options after defaults, as the session uses them. */
export type SessionOptions = Required<
  Omit<ConnectOptions, 'body' | 'signal' | 'profile' | 'WebSocket' | 'headers'>
> & {
  WebSocket: WebSocketLike | null;
  fetch: FetchLike;
  clock: Clock;
  /** The static headers (a headers function is resolved per connection by the transports). */
  headers: Record<string, string>;
};

/** Where the session delivers what the user sees; implemented by the connection. */
export interface SessionSink {
  emitter: Emitter<ConnectionEvents>;
  deliver(event: ClientEvent): void;
  finish(final: { result?: unknown; error?: OutlastError }): void;
  fail(error: OutlastError): void;
  /**
   * The job's outcome from its record, for a job stream that ended or expired without its
   * final event; retries until the record is settled, rejects with a fatal error.
   */
  jobOutcome(): Promise<{ result?: unknown; error?: OutlastError }>;
}

/**
 * The reconnect loop behind `connect()`, a small state machine:
 * `connect()` opens an attempt; its handlers feed the attempt's bookkeeping, the stall
 * watchdog and the user; a loss (`lose`) records the cut, stops where the answer is final,
 * learns, and asks the reconnect policy when to `connect()` again; the end settles.
 * The policies live in their own files: {@link ReconnectPolicy} (when), {@link PathTiming}
 * (what to ask for, how long to wait), {@link PathLearner} and {@link TransportChoice} (what
 * the path taught, which transport next), {@link CutLog} (cut events and reports).
 * A generation counter makes every callback of a superseded transport a no-op.
 */
export class Session {
  lastEventId: string | null;
  outlast: boolean;
  connections = 0;
  private gen = 0;
  private attempt: Attempt | null = null;
  /** The transport started beside a held attempt, until one of them delivers. */
  private racer: Attempt | null = null;
  private holdTimer: unknown = null;
  private raceBound = 0;
  /**
   * Why the racer started: `held`, the attempt did not open within the hold bound (the first
   * of the two to deliver wins); `bursts`, its heartbeats arrive in bursts (it delivers, late:
   * the racer wins by opening, and the bursty attempt goes on until then).
   */
  private raceCause: 'held' | 'bursts' = 'held';
  /**
   * The measured round trip, ms: the job POST's, or the first response's; the hold bound is
   * at least 4 of them.
   */
  rttMs: number | null = null;
  /** The server's last `retry:` field, ms. */
  private retryHintMs = 0;
  /** Shared by every poll transport of the session: a reopen keeps the pause between polls. */
  private readonly pollPace: PollPace = { notBefore: 0 };
  private timer: unknown = null;
  /**
   * The last attempt ended with its HTTP response whole (a rotation): the next request may ride
   * its kept-alive connection (what a clock counting connections sees is not the request's age).
   */
  private keptAlive = false;
  private closed = false;
  private final: { result?: unknown; error?: OutlastError } | null = null;
  private readonly dedupe: Dedupe;
  private readonly policy: ReconnectPolicy;
  private readonly stall: StallTimer;
  private readonly timing: PathTiming;
  private readonly choice: TransportChoice;
  private readonly learner: PathLearner;
  private readonly cuts: CutLog;

  constructor(
    private readonly o: SessionOptions,
    private readonly streamUrl: string,
    private readonly resultUrl: string | null,
    readonly profile: PathProfile,
    store: ProfileStore | null,
    reports: ReportBatcher | null,
    private readonly factories: Record<TransportName, TransportFactory>,
    private readonly sink: SessionSink,
    start: TransportName,
    looksOutlast: boolean,
  ) {
    this.lastEventId = o.lastEventId;
    this.outlast =
      o.protocol === 'outlast' || (o.protocol === 'auto' && (profile.outlast || looksOutlast));
    this.dedupe = new Dedupe(o.dedupeWindow);
    this.policy = new ReconnectPolicy(o, o.random);
    this.stall = new StallTimer(o.clock, () => {
      if (this.attempt !== null) this.lose(this.attempt, 'stall', null);
    });
    this.timing = new PathTiming(o, profile);
    this.choice = new TransportChoice(start, o.transports, profile, sink.emitter);
    this.learner = new PathLearner(o, profile, store, sink.emitter, this.choice);
    this.cuts = new CutLog(sink.emitter, reports);
  }

  /** The transport in use (or about to be). */
  get current(): TransportName {
    return this.choice.current;
  }

  /** Opens the next connection. */
  connect(): void {
    if (this.closed) return;
    this.timer = null;
    this.gen++;
    this.learner.revalidate();
    this.attempt = this.open(this.choice.current);
    this.attempt.reusedConnection = this.keptAlive && this.attempt.name !== 'ws';
    this.stall.arm(this.timing.opening());
    this.watchHold(this.attempt);
  }

  /**
   * Starts one attempt over `name`. Its callbacks act while it is the attempt or the racer of
   * the current generation; a superseded or closed one is ignored.
   */
  private open(name: TransportName): Attempt {
    const gen = this.gen;
    const att = new Attempt(name, this.o.clock.now());
    const { url, headers } = this.request(name);
    const live = <A extends unknown[]>(fn: (...args: A) => void) => {
      return (...args: A): void => {
        if (gen === this.gen && !this.closed && (att === this.attempt || att === this.racer)) {
          fn(...args);
        }
      };
    };
    const handlers: TransportHandlers = {
      headers: live((info) => this.onHeaders(att, info)),
      open: live((info) => this.onOpen(att, info)),
      bytes: live((n) => {
        att.bytesIn(n, this.o.clock.now());
        if (att === this.attempt) this.stall.touch();
      }),
      heartbeat: live((t) => this.onHeartbeat(att, t)),
      comment: live((text) => this.sink.emitter.emit('comment', { text, transport: name })),
      retry: live((ms) => {
        this.retryHintMs = ms;
      }),
      event: live((e) => this.onEvent(att, e.id, e.lastEventId, e.type, e.data)),
      gap: live((g) => this.sink.emitter.emit('gap', g)),
      rotate: live(() => this.lose(att, 'server-rotation', null)),
      end: live(() => {
        this.settleRace(att);
        void this.onEnd();
      }),
      closed: live((info) => this.lose(att, classifyClose(info, att.openedAt !== null), info)),
    };
    att.transport = this.factories[name](
      {
        url,
        headers,
        lastEventId: this.lastEventId,
        maxLineBytes: this.o.maxLineBytes,
        maxEventBytes: this.o.maxEventBytes,
        pollWaitMs: this.timing.pollWait(),
        currentLastEventId: () => this.lastEventId,
        pollPace: this.pollPace,
        fetch: this.o.fetch,
        WebSocket: this.o.WebSocket,
      },
      handlers,
    );
    return att;
  }

  /**
   * First contact through a hop that holds: when `att` has not opened (headers and the open
   * notice) within the hold bound, the next transport starts beside it; the first to open
   * wins (docs/client.md, "Racing").
   */
  private watchHold(att: Attempt): void {
    this.clearHold();
    if (!this.outlast || this.o.protocol === 'sse' || this.o.holdTimeoutMs === null) return;
    const next = nextTransport(this.o.transports, att.name, this.profile.avoid);
    if (next === null) return;
    const bound = this.timing.holdBound(this.rttMs);
    this.holdTimer = this.o.clock.setTimeout(() => {
      this.holdTimer = null;
      if (att !== this.attempt || this.racer !== null || this.closed) return;
      this.raceBound = bound;
      this.raceCause = 'held';
      this.racer = this.open(next);
    }, bound);
  }

  private clearHold(): void {
    if (this.holdTimer !== null) this.o.clock.clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  /**
   * `winner` delivered first: the other attempt is closed (nothing from it is read again, so
   * nothing is duplicated). A racer that beat a held attempt teaches the path: the held
   * transport is avoided for the origin (`learn`, `transport` events).
   */
  private settleRace(winner: Attempt): void {
    if (winner === this.attempt) {
      this.clearHold();
      // A bursty attempt delivers, late: only the racer's open ends that race.
      if (this.raceCause === 'bursts') return;
    }
    if (this.racer === null) return;
    const held = this.attempt!;
    const loser = winner === held ? this.racer : held;
    this.racer = null;
    this.attempt = winner;
    loser.transport.close();
    if (loser !== held) return;
    const detail =
      this.raceCause === 'bursts'
        ? `${held.name} heartbeats arrived in bursts, ${winner.name} started beside it opened first`
        : `${this.heldFor(held)}, ${winner.name} started beside it delivered first`;
    this.record(held, 'stall', { kind: 'eof', message: `held by a hop: ${detail}` });
    this.learnHeld(held, winner, detail);
  }

  /** What a held attempt had within the hold bound, for a lesson's note. */
  private heldFor(held: Attempt): string {
    const what = held.openedAt === null ? 'no response headers' : 'headers but no open notice';
    const rtt = this.rttMs === null ? 'not measured' : `${Math.round(this.rttMs)} ms`;
    return `${held.name} had ${what} within ${this.raceBound} ms (round trip ${rtt})`;
  }

  /** A hop held `held`: its transport is avoided on the path and `other` goes on. */
  private learnHeld(held: Attempt, other: Attempt, detail: string): void {
    this.learner.apply([this.learner.avoid(held.name, 'buffering', detail)]);
    this.choice.moveTo(other.name, detail);
  }

  /**
   * Runs a waiting reconnect now (the page came back online or visible): `false` when no
   * reconnect waits (connected, connecting, or stopped).
   */
  wake(): boolean {
    if (this.closed || this.timer === null) return false;
    this.o.clock.clearTimeout(this.timer);
    this.connect();
    return true;
  }

  /** Stops for good (the user closed, or the stream ended). */
  close(reportAbort: boolean): void {
    if (this.closed) return;
    if (reportAbort && this.attempt !== null) this.record(this.attempt, 'client-abort', null);
    this.closed = true;
    this.gen++;
    this.stall.stop();
    this.clearHold();
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.attempt?.transport.close();
    this.racer?.transport.close();
    this.racer = null;
    this.cuts.flush();
  }

  /** The URL and headers of an attempt over `name`. */
  private request(name: TransportName): { url: string; headers: Record<string, string> } {
    return attemptRequest(this.streamUrl, name, {
      outlast: this.outlast,
      lastEventId: this.lastEventId,
      heartbeatMs: this.timing.heartbeat(),
      maxStreamMs: this.timing.maxStream(name),
      headers: this.o.headers,
    });
  }

  private onHeaders(a: Attempt, info: { heartbeatMs: number | null; outlast: boolean }): void {
    a.openedAt = this.o.clock.now();
    // The first answer measures the round trip when the job POST did not.
    if (this.rttMs === null) this.rttMs = a.openedAt - a.startedAt;
    if (info.outlast && !this.profile.outlast && this.o.protocol !== 'sse') {
      this.outlast = true;
      this.learner.knowOutlast();
    } else if (!info.outlast && a.name === 'sse' && this.o.protocol === 'auto') {
      // A plain SSE server after all: no outlast query parameters, no fallback from now on.
      this.outlast = false;
    }
    if (a === this.attempt && this.racer === null) {
      if (info.heartbeatMs !== null) this.watch(a, info.heartbeatMs);
      else this.stall.arm(this.timing.afterHeaders(a.name));
    } else if (info.heartbeatMs !== null) a.heartbeatMs = info.heartbeatMs;
    if (!info.outlast && a.name === 'sse') {
      // A plain SSE server: no open notice will come; the response is the open.
      this.onOpen(a, { heartbeatMs: null, maxStreamMs: null, resume: null });
    }
  }

  private onOpen(a: Attempt, info: OpenInfo): void {
    this.settleRace(a);
    a.announced = true;
    if (info.heartbeatMs !== null) this.watch(a, info.heartbeatMs);
    this.connections++;
    this.sink.emitter.emit('open', {
      transport: a.name,
      resume: info.resume,
      heartbeatMs: info.heartbeatMs,
      maxStreamMs: info.maxStreamMs,
      connections: this.connections,
    });
  }

  /** Arms stall detection for an announced heartbeat. */
  private watch(a: Attempt, heartbeatMs: number): void {
    a.heartbeatMs = heartbeatMs;
    this.stall.arm(this.timing.forHeartbeat(a.name, heartbeatMs));
  }

  /**
   * Heartbeats that arrive in bursts mean a hop holds the stream: the next transport starts
   * beside it (docs/client.md, "Racing"), once per attempt; the bursty attempt goes on
   * delivering until the racer opens. With no transport to race (or for a plain SSE server)
   * the attempt is cut and the path learned, as before.
   */
  private onHeartbeat(a: Attempt, serverMs: number | null): void {
    if (!a.beat(serverMs, this.o.clock.now()) || a.raced || this.racer !== null) return;
    const next =
      this.outlast && this.o.protocol !== 'sse'
        ? nextTransport(this.o.transports, a.name, this.profile.avoid)
        : null;
    if (a === this.attempt && next !== null) {
      a.raced = true;
      this.clearHold();
      this.raceCause = 'bursts';
      this.racer = this.open(next);
      return;
    }
    const lesson = this.learner.avoid('sse', 'buffering', 'SSE heartbeats arrive in bursts');
    this.lose(a, 'stall', null, [lesson]);
  }

  private onEvent(
    a: Attempt,
    id: string | undefined,
    lastId: string,
    type: string,
    data: string,
  ): void {
    this.settleRace(a);
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
      await this.settleFromRecord();
      return;
    }
    this.sink.finish(this.final ?? {});
  }

  /** Records a lost connection: cut event, report, history. */
  private record(a: Attempt, cause: CutCause, info: CloseInfo | null) {
    const report = a.report(cause, info, this.profile.origin, this.o.clock.now());
    return this.cuts.record(report, this.outlast);
  }

  /** A connection was lost: decide whether to stop, how to adapt, and when to reconnect. */
  private lose(a: Attempt, cause: CutCause, info: CloseInfo | null, early: Lesson[] = []): void {
    if (this.closed) return;
    if (this.racer !== null) {
      // One of two racing attempts was lost: the other goes on alone; a racer that could not
      // open (a refused WebSocket) hands over to the next transport in the order.
      const held = this.attempt!;
      const other = a === this.racer ? held : this.racer;
      this.racer = null;
      this.attempt = other;
      a.transport.close();
      this.record(a, cause, info);
      this.stall.arm(this.timing.opening());
      if (a === held && this.raceCause === 'held' && cause === 'stall' && !a.announced) {
        // The held attempt's watchdog fired before the racer opened (a heartbeat watchdog as
        // short as the hold bound): held all the same, the lesson a winning racer teaches.
        this.learnHeld(a, other, `${this.heldFor(a)}, then its stall watchdog cut it`);
        return;
      }
      if (a !== other && !a.announced) {
        if (a.name === 'ws' && a.openedAt === null) {
          // Learned as a WebSocket that cannot open is, without a move: the race goes on.
          const lesson = this.learner.avoid('ws', 'refused', 'WebSocket could not open');
          this.learner.apply([{ ...lesson, switchTo: null }]);
        }
        const next = nextTransport(this.o.transports, a.name, this.profile.avoid);
        if (next !== null && next !== other.name) this.racer = this.open(next);
      }
      return;
    }
    this.gen++;
    this.stall.stop();
    this.clearHold();
    a.transport.close();
    const report = this.record(a, cause, info);
    this.keptAlive = cause === 'server-rotation' && a.name !== 'ws';
    if (this.stopsHere(info, a.name)) return;

    const lessons = this.learner.fromCut(report, this.cuts.history, this.outlast, early);
    const decision = this.policy.next({
      cause,
      sinceOpenMs: report.sinceOpenMs,
      healthy: a.healthy,
      pathChanged: lessons.length > 0,
      ...(info?.status !== undefined ? { status: info.status } : {}),
      retryAfterMs: (info?.retryAfterS ?? 0) * 1000,
      retryHintMs: this.retryHintMs,
      plainSse: !this.outlast,
    });
    if ('error' in decision) {
      this.stop(decision.error);
      return;
    }
    this.sink.emitter.emit('reconnecting', {
      cause,
      transport: this.choice.current,
      delayMs: decision.delayMs,
      attempt: decision.attempt,
    });
    this.timer = this.o.clock.setTimeout(() => this.connect(), decision.delayMs);
  }

  /** Statuses and answers that end the client instead of a reconnect. */
  private stopsHere(info: CloseInfo | null, name: TransportName): boolean {
    if (info?.fatal !== undefined) {
      // Over a limit (a reconnect would replay the same bytes), a POST stream that must not be
      // re-sent: the transport said this close is final.
      this.stop(info.fatal);
      return true;
    }
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

  /** A job's result is never `undefined`: without its final event, its record settles it. */
  private async settleFromRecord(): Promise<void> {
    this.close(false);
    if (this.final !== null) {
      this.sink.finish(this.final);
      return;
    }
    try {
      this.sink.finish(await this.sink.jobOutcome());
    } catch (error) {
      this.sink.fail(
        error instanceof OutlastError
          ? error
          : new OutlastError('unexpected-response', String(error), { cause: error }),
      );
    }
  }

  private stop(error: OutlastError): void {
    this.close(false);
    this.sink.fail(error);
  }
}
