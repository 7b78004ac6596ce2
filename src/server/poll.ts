import type { ReadResult, StoredEvent } from '../store/types.js';
import { jsonReply, type Reply } from './http.js';
import type { SessionHub } from './session.js';

/** The long-poll batch body of docs/protocol.md. */
function batch(result: ReadResult, afterId: string | null, heartbeatMs: number): Reply {
  const last = result.events.at(-1);
  return jsonReply(200, {
    events: result.events.map((e) => ({ id: e.id, event: e.event, data: e.data })),
    lastEventId: last?.id ?? (result.resume === 'recovered' ? afterId : null),
    resume: result.resume,
    gap: result.gap,
    end: result.done,
    heartbeatMs,
  });
}

/**
 * Answers a long-poll: at once when events (or a gap, or the end) are there, else holds up
 * to `waitMs` for the first live event. `onHold` is called before holding and must return a
 * release function (connection accounting) or a refusal reply.
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
    onClose: (listener: () => void) => void;
    hold: () => (() => void) | Reply;
  },
): Promise<Reply> {
  hub.metrics.resume(initial.resume, initial.gap?.reason ?? null);
  if (initial.events.length > 0 || initial.gap !== null || initial.done || options.waitMs === 0) {
    return batch(initial, afterId, options.heartbeatMs);
  }
  const release = options.hold();
  if (typeof release !== 'function') return release;
  const openedAt = hub.now();
  hub.metrics.connectionOpened('poll');
  let wake!: (why: 'event' | 'timeout' | 'client-closed' | 'lost') => void;
  const woken = new Promise<'event' | 'timeout' | 'client-closed' | 'lost'>((resolve) => {
    wake = resolve;
  });
  const timer = setTimeout(() => wake('timeout'), options.waitMs);
  options.onClose(() => wake('client-closed'));
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = await hub.store.subscribe(streamId, {
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
    const result = (await hub.store.read(streamId, afterId, options.maxBatch)) ?? initial;
    hub.metrics.connectionClosed(
      'poll',
      why === 'client-closed' ? 'client-closed' : why === 'lost' ? 'error' : 'end',
      hub.now() - openedAt,
    );
    return batch(result, afterId, options.heartbeatMs);
  } catch (error) {
    hub.metrics.connectionClosed('poll', 'error', hub.now() - openedAt);
    throw error;
  } finally {
    clearTimeout(timer);
    unsubscribe?.();
    release();
  }
}
