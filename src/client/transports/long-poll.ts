import {
  emptyPollPauseMs,
  eventTooLarge,
  statusClose,
  type Transport,
  type TransportContext,
  type TransportHandlers,
} from '../transport.js';
import { describe } from './sse.js';

interface PollBody {
  events?: Array<{ id?: unknown; event?: unknown; data?: unknown }>;
  lastEventId?: unknown;
  resume?: unknown;
  gap?: { requested?: unknown; resumeFrom?: unknown; reason?: unknown } | null;
  end?: unknown;
  heartbeatMs?: unknown;
}

/**
 * Long-polling: one `GET ...?transport=poll` after another, each held by the server up to
 * `wait` when nothing is ready. Nothing streams, so nothing can be buffered by a proxy: the
 * transport of last resort behind scanning proxies and compressing middleware. Each poll
 * carries the id of the last event the connection accepted.
 */
export function openLongPoll(ctx: TransportContext, h: TransportHandlers): Transport {
  let controller: AbortController | null = null;
  let done = false;
  let pause: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | null = null;
  /**
   * The position the server told after a gap with no event (its newest id, or `null`: from
   * the start). Sent instead of the connection's last id until an event arrives: resending an
   * id the server already refused would only get the same gap again, at once, forever.
   */
  let position: string | null | undefined;
  // A poll answered empty sooner than this waits out the rest before the next: no answer,
  // however odd, makes the loop spin. The pace outlives this transport: when the connection
  // reopens polling (a cut, a stall), the first poll of the new one still waits.
  const floorMs = emptyPollPauseMs(ctx.pollWaitMs);
  const pace = ctx.pollPace ?? { notBefore: 0 };
  const waitFor = async (ms: number): Promise<void> => {
    if (ms <= 0 || done) return;
    await new Promise<void>((resolve) => {
      pause = { timer: setTimeout(resolve, ms), resolve };
    });
    pause = null;
  };
  const finish = (fn: () => void): void => {
    if (done) return;
    done = true;
    fn();
  };

  void (async () => {
    let first = true;
    while (!done) {
      // Never longer than one pause: a wall clock stepped back must not hold polling.
      await waitFor(Math.min(floorMs, pace.notBefore - Date.now()));
      if (done) return;
      const url = new URL(ctx.url);
      const last = position !== undefined ? position : ctx.currentLastEventId();
      const askedAt = Date.now();
      if (last === null) url.searchParams.delete('lastEventId');
      else url.searchParams.set('lastEventId', last);
      url.searchParams.set('wait', String(Math.round(ctx.pollWaitMs)));
      controller = new AbortController();
      let res: Response;
      let body: PollBody;
      try {
        res = await ctx.fetch(url.href, {
          headers: { accept: 'application/json', ...ctx.headers },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (done) return;
        if (res.status !== 200) {
          const info = await statusClose(res);
          finish(() => h.closed(info));
          return;
        }
        const text = await res.text();
        if (done) return;
        h.bytes(text.length);
        body = JSON.parse(text) as PollBody;
      } catch (error) {
        if (done) return;
        const kind = error instanceof SyntaxError ? 'eof' : 'network';
        finish(() => h.closed({ kind, message: describe(error) }));
        return;
      }
      const heartbeatMs = typeof body.heartbeatMs === 'number' ? body.heartbeatMs : null;
      if (first) {
        first = false;
        h.headers({ heartbeatMs, maxStreamMs: null, outlast: true });
        h.open({
          heartbeatMs,
          maxStreamMs: null,
          resume: typeof body.resume === 'string' ? body.resume : null,
        });
      } else h.heartbeat(null);
      if (done) return;
      if (body.gap !== null && body.gap !== undefined) {
        const g = body.gap;
        h.gap({
          requested: typeof g.requested === 'string' ? g.requested : null,
          resumeFrom: typeof g.resumeFrom === 'string' ? g.resumeFrom : null,
          reason: typeof g.reason === 'string' ? g.reason : 'unknown',
        });
      }
      for (const e of body.events ?? []) {
        if (done) return;
        const id = typeof e.id === 'string' ? e.id : undefined;
        const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data ?? null);
        const tooLarge = eventTooLarge(data, ctx.maxEventBytes);
        if (tooLarge !== null) {
          finish(() => h.closed(tooLarge));
          return;
        }
        h.event({
          id,
          lastEventId: id ?? '',
          type: typeof e.event === 'string' ? e.event : 'message',
          data,
        });
      }
      if (body.end === true) {
        finish(() => h.end());
        return;
      }
      const events = body.events ?? [];
      if (events.length > 0) position = undefined;
      else if (body.resume === 'gap') {
        const next = body.lastEventId;
        position = typeof next === 'string' && next !== '' ? next : null;
      }
      if (events.length === 0) pace.notBefore = Math.max(pace.notBefore, askedAt + floorMs);
    }
  })();

  return {
    name: 'poll',
    close() {
      done = true;
      controller?.abort();
      if (pause !== null) {
        clearTimeout(pause.timer);
        pause.resolve();
      }
    },
  };
}
