import type { ReadResult, StoredEvent } from '../store/types.js';
import { jsonReply, onAbort, type Reply } from './http.js';
import type { SessionHub } from './session.js';

/**
 * The long-poll batch body of docs/protocol.md. `lastEventId` is always the position to send
 * next: after a gap with no retained event it is the stream's newest id (or `null`: read
 * from the start), so a client never resends a position the server already refused.
 */
function batch(
  result: ReadResult,
  afterId: string | null,
  heartbeatMs: number,
  newest: string | null,
): Reply {
  const last = result.events.at(-1);
  const position =
    last?.id ?? (result.resume === 'recovered' ? afterId : result.gap !== null ? newest : null);
  return jsonReply(200, {
    events: result.events.map((e) => ({ id: e.id, event: e.event, data: e.data })),
    lastEventId: position,
    resume: result.resume,
    gap: result.gap,
    end: result.done,
    heartbeatMs,
  });
}

/** Where a reader stands after `result`, when it tells a gap and carries no event. */
async function positionAfterGap(
  hub: SessionHub,
  streamId: string,
  result: ReadResult,
): Promise<string | null> {
  if (result.gap === null || result.events.length > 0) return null;
  return (await hub.store.info(streamId))?.lastId ?? null;
}

/** Why a held poll ends. */
type Wake = 'event' | 'timeout' | 'client-closed' | 'lost' | 'drain';

/**
 * Answers a long-poll: at once when events (or a gap, or the end) are there, else holds up
 * to `waitMs` for the first live event. `hold` is called before holding and must return a
 * release function (connection accounting) or a refusal reply. `holds` (the server's set of
 * held polls) lets a drain answer every held poll now.
 */
export async function pollReply(
  hub: SessionHub,
  streamId: string,
  afterId: string | null,
  initial: ReadResult,
  options: {
    waitMs: number;
    heartbeatMs: number;
    maxBatch: number;
    signal: AbortSignal;
    hold: () => (() => void) | Reply;
    holds?: Set<() => void>;
  },
): Promise<Reply> {
  hub.metrics.resume(initial.resume, initial.gap?.reason ?? null);
  if (initial.events.length > 0 || initial.gap !== null || initial.done || options.waitMs === 0) {
    const newest = await positionAfterGap(hub, streamId, initial);
    return batch(initial, afterId, options.heartbeatMs, newest);
  }
  const release = options.hold();
  if (typeof release !== 'function') return release;
  const openedAt = hub.monotonicNow();
  hub.metrics.connectionOpened('poll');
  let wake!: (why: Wake) => void;
  const woken = new Promise<Wake>((resolve) => {
    wake = resolve;
  });
  const timer = setTimeout(() => wake('timeout'), options.waitMs);
  const drained = () => wake('drain');
  options.holds?.add(drained);
  onAbort(options.signal, () => wake('client-closed'));
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = await hub.subscribe(streamId, {
      event: (_e: StoredEvent) => wake('event'),
      end: () => wake('event'),
      lost: () => wake('lost'),
    });
    // An event may have landed between the first read and the subscription.
    const again = await hub.store.read(streamId, afterId, options.maxBatch);
    if (again !== null && (again.events.length > 0 || again.done || again.gap !== null)) {
      wake('event');
    }
    const why = await woken;
    unsubscribe();
    const result =
      why === 'client-closed'
        ? initial
        : ((await hub.store.read(streamId, afterId, options.maxBatch)) ?? initial);
    hub.metrics.connectionClosed(
      'poll',
      why === 'client-closed' ? 'client-closed' : why === 'lost' ? 'error' : 'end',
      hub.monotonicNow() - openedAt,
    );
    const newest = await positionAfterGap(hub, streamId, result);
    return batch(result, afterId, options.heartbeatMs, newest);
  } catch (error) {
    hub.metrics.connectionClosed('poll', 'error', hub.monotonicNow() - openedAt);
    throw error;
  } finally {
    clearTimeout(timer);
    options.holds?.delete(drained);
    unsubscribe?.();
    release();
  }
}
