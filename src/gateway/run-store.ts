import type {
  EventInput,
  GapInfo,
  ReadResult,
  Store,
  StoredEvent,
  StoreListener,
  StreamInfo,
} from '../store/types.js';

/*
 * Ids and types of the gateway's streams, kept in one place: a store view that every reader
 * (SSE, WebSocket, long-poll, catch-up and live) goes through, so the server's sessions and
 * routes serve gateway runs unchanged.
 *
 * - Ids as clients see them are `{runId}.{epoch}:{seq}`, and `{runId}.{epoch}:{seq}.{upstreamId}`
 *   when the upstream's event had an `id:` of its own. A plain `EventSource` reconnects to the
 *   same URL it started with (the upstream's path); the run id in its `Last-Event-ID` is what
 *   lets the gateway reattach it to the same upstream run instead of starting a second one.
 * - The upstream's own id travels in the stored event type, after a NUL (the SSE parser drops
 *   ids containing NUL, so an upstream id never contains one).
 */

const SEP = '\u0000';

/** Stored type of an upstream event: its type, then NUL and its id when it had one. */
export function encodeType(type: string, upstreamId: string | undefined): string {
  // The upstream may not speak for the gateway: its `outlast.*` types are renamed.
  let t = type.startsWith('outlast.') ? `upstream.${type}` : type;
  if (t.includes(SEP)) t = t.replaceAll(SEP, '\uFFFD');
  return upstreamId === undefined || upstreamId === '' ? t : `${t}${SEP}${upstreamId}`;
}

/** A client-facing id split into its run, the store's id and the upstream's id. */
export function parseRunEventId(
  id: string,
): { runId: string; inner: string; upstreamId: string | null } | null {
  const dot = id.indexOf('.');
  if (dot <= 0) return null;
  const runId = id.slice(0, dot);
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(runId)) return null;
  const rest = id.slice(dot + 1);
  const next = rest.indexOf('.');
  const inner = next === -1 ? rest : rest.slice(0, next);
  if (inner === '') return null;
  return { runId, inner, upstreamId: next === -1 ? null : rest.slice(next + 1) };
}

const views = new WeakMap<StoredEvent, StoredEvent>();

function outer(streamId: string, e: StoredEvent): StoredEvent {
  // One view per stored event, shared by every reader: the encoders cache bytes per object.
  let view = views.get(e);
  if (view === undefined) {
    const sep = e.event.indexOf(SEP);
    const type = sep === -1 ? e.event : e.event.slice(0, sep);
    const upstreamId = sep === -1 ? '' : `.${e.event.slice(sep + 1)}`;
    view = {
      id: `${streamId}.${e.id}${upstreamId}`,
      seq: e.seq,
      time: e.time,
      event: type,
      data: e.data,
    };
    views.set(e, view);
  }
  return view;
}

function outerId(streamId: string, id: string | null): string | null {
  return id === null ? null : `${streamId}.${id}`;
}

/**
 * The store position of a client's id. An id of another run (or no run) is handed on as is,
 * which the store reads as `malformed`: the reader gets a gap from the start, never another
 * run's events.
 */
function innerId(streamId: string, id: string | null): string | null {
  if (id === null) return null;
  const parsed = parseRunEventId(id);
  return parsed !== null && parsed.runId === streamId ? parsed.inner : id;
}

function outerInfo(streamId: string, info: StreamInfo | null): StreamInfo | null {
  if (info === null) return null;
  return {
    ...info,
    firstId: outerId(streamId, info.firstId),
    lastId: outerId(streamId, info.lastId),
  };
}

/** Wraps `inner` so that its streams read as gateway runs (see the file comment). */
export function runStore(inner: Store): Store {
  return {
    create: async (streamId) => outerInfo(streamId, await inner.create(streamId))!,
    append: async (streamId, event: EventInput) =>
      outer(streamId, await inner.append(streamId, event)),
    async end(streamId, finalEvent) {
      const e = await inner.end(streamId, finalEvent);
      return e === null ? null : outer(streamId, e);
    },
    async read(streamId, afterId, limit): Promise<ReadResult | null> {
      const result = await inner.read(streamId, innerId(streamId, afterId), limit);
      if (result === null) return null;
      const gap: GapInfo | null =
        result.gap === null
          ? null
          : {
              requested: afterId ?? result.gap.requested,
              resumeFrom: outerId(streamId, result.gap.resumeFrom),
              reason: result.gap.reason,
            };
      return { ...result, gap, events: result.events.map((e) => outer(streamId, e)) };
    },
    info: async (streamId) => outerInfo(streamId, await inner.info(streamId)),
    subscribe: (streamId, listener: StoreListener) =>
      inner.subscribe(streamId, {
        event: (e) => listener.event(outer(streamId, e)),
        end: () => listener.end(),
        lost: () => listener.lost(),
      }),
    trim: (streamId) => inner.trim(streamId),
    delete: (streamId) => inner.delete(streamId),
    setJob: (record, ttlMs) => inner.setJob(record, ttlMs),
    getJob: (jobId) => inner.getJob(jobId),
    requestCancel: (jobId, reason) => inner.requestCancel(jobId, reason),
    onCancel: (handler) => inner.onCancel(handler),
    createJob: (record) => inner.createJob(record),
    settleJob: (record, ttlMs, finalEvent) => inner.settleJob(record, ttlMs, finalEvent),
    abandonJob: (jobId) => inner.abandonJob(jobId),
    claimJobKey: (key, jobId, ttlMs) => inner.claimJobKey(key, jobId, ttlMs),
    refreshJobKey: (key, jobId, ttlMs) => inner.refreshJobKey(key, jobId, ttlMs),
    onFenced: (handler) => inner.onFenced(handler),
    close: () => inner.close(),
  };
}
