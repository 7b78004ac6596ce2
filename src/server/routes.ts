import { isOutlastError } from '../errors.js';
import type { JobRecord, ReadResult } from '../store/types.js';
import type { ServerCore } from './core.js';
import {
  type ByteSink,
  corsHeaders,
  emptyReply,
  errorReply,
  type Incoming,
  jsonReply,
  type Reply,
} from './http.js';
import { pollReply } from './poll.js';
import { parseStreamQuery, type StreamParams } from './query.js';
import { readReports } from './reports.js';
import { Session } from './session.js';
import { SseTransport, sseHeaders } from './sse.js';

/** Splits `{base}/a/b` into decoded segments, or `null` when outside the base path. */
export function routeSegments(base: string, pathname: string): string[] | null | 'bad' {
  if (!pathname.startsWith(`${base}/`)) return null;
  try {
    return pathname
      .slice(base.length + 1)
      .split('/')
      .map((s) => decodeURIComponent(s));
  } catch {
    return 'bad';
  }
}

/** The resume position: `lastEventId` query wins over the `Last-Event-ID` header. */
export function resumePosition(params: StreamParams, inc: Incoming): string | null {
  const id = params.lastEventId ?? inc.header('last-event-id');
  return id === null || id === undefined || id === '' ? null : id;
}

/**
 * Whether `identity` may see the job: a job started by an identity is visible to it alone.
 * Anyone else is told the job does not exist (404, as for an unknown id): a 403 would confirm
 * that the id names a job.
 */
function visible(record: JobRecord | null, identity: string | undefined): boolean {
  return record === null || record.identity === undefined || record.identity === identity;
}

/** The record as served: who owns it is the server's business. */
function served(record: JobRecord): Omit<JobRecord, 'identity'> {
  const { identity: _, ...rest } = record;
  return rest;
}

/** `Idempotency-Key`: 1 to 255 visible ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function notFound(what: 'stream' | 'job'): Reply {
  return what === 'stream'
    ? errorReply(404, 'unknown-stream', 'no such stream (it may have ended and expired)')
    : errorReply(404, 'unknown-job', 'no such job (its record may have expired)');
}

async function streamRoute(core: ServerCore, inc: Incoming, streamId: string): Promise<Reply> {
  const o = core.o;
  const params = parseStreamQuery(inc.url.searchParams, o);
  if (typeof params === 'string') {
    core.metrics.rejected('bad-query');
    return errorReply(400, 'bad-query', params);
  }
  const transport = params.transport ?? 'sse';
  if (transport === 'ws') {
    return errorReply(400, 'bad-query', 'transport=ws needs a WebSocket upgrade request');
  }
  const allowed = await core.authorizeAs(inc, streamId, 'read');
  if ('status' in allowed) return allowed;
  if (inc.signal.aborted) return gone();
  const afterId = resumePosition(params, inc);
  const batch = transport === 'poll' ? o.maxPollBatch : o.readBatch;
  // The job record (if the stream is a job's) says who may read it; read both at once.
  const [initial, job] = await Promise.all([
    core.store.read(streamId, afterId, batch),
    core.store.getJob(streamId),
  ]);
  if (inc.signal.aborted) return gone();
  if (initial === null || !visible(job, allowed.identity)) return notFound('stream');
  if (transport === 'poll') {
    return pollReply(core, streamId, afterId, initial, {
      waitMs: params.waitMs,
      heartbeatMs: params.heartbeatMs,
      maxBatch: o.maxPollBatch,
      signal: inc.signal,
      hold: () => core.acquire(streamId, 'poll', core.ownerOf(inc, allowed.identity)),
      holds: core.heldPolls,
    });
  }
  // [spec] EventSource: "a 204 No Content response code ... must fail the connection" and
  // stop reconnecting: the right answer for a reader that already has the final event.
  if (initial.done && initial.events.length === 0 && initial.resume === 'recovered') {
    return emptyReply(204);
  }
  const release = core.acquire(streamId, 'sse', core.ownerOf(inc, allowed.identity));
  if (typeof release !== 'function') return release;
  const { heartbeatMs, maxStreamMs } = params;
  const arrivedAt = inc.arrivedAt;
  return {
    status: 200,
    headers: sseHeaders(heartbeatMs, maxStreamMs),
    body: null,
    stream: (sink) =>
      startSse(
        core,
        sink,
        streamId,
        { heartbeatMs, maxStreamMs, arrivedAt },
        afterId,
        initial,
        release,
      ),
  };
}

/**
 * What a route answers once it sees its client has gone: nobody reads it, and nothing was
 * taken (no slot, no session, no subscription).
 */
function gone(): Reply {
  return errorReply(499, 'client-closed', 'the client went away');
}

/*
 * Kept out of streamRoute on purpose: a closure shares its function's whole scope, so a
 * listener created there would keep the request, its URL and the first read alive for the
 * connection's lifetime (about 1 KB per connection at 100 000 connections).
 */
function startSse(
  core: ServerCore,
  sink: ByteSink,
  streamId: string,
  timing: { heartbeatMs: number; maxStreamMs: number | null; arrivedAt: number },
  afterId: string | null,
  initial: ReadResult,
  release: () => void,
): void {
  const session = new Session(
    core,
    new SseTransport(sink, core.o.retryMs),
    streamId,
    timing.heartbeatMs,
    timing.maxStreamMs,
    timing.arrivedAt,
  );
  core.track(session, release);
  core.metrics.connectionOpened('sse');
  sink.onClose(session.clientClosed);
  void session.start(afterId, initial);
}

/** `application/json`, with or without parameters (`; charset=utf-8`). */
function isJson(contentType: string | null): boolean {
  if (contentType === null) return false;
  return contentType.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

async function startJobRoute(core: ServerCore, inc: Incoming, name: string): Promise<Reply> {
  // authorize before the name is looked up: a 404 for unknown names would let anyone list
  // the handlers.
  const allowed = await core.authorizeAs(inc, name, 'start-job');
  if ('status' in allowed) return allowed;
  const handler = Object.hasOwn(core.o.jobs, name) ? core.o.jobs[name] : undefined;
  if (handler === undefined) {
    return errorReply(404, 'unknown-job', `no job handler named ${JSON.stringify(name)}`);
  }
  // A form or text/plain POST from any page needs no preflight; requiring application/json
  // makes every cross-origin start pass through CORS.
  if (!isJson(inc.header('content-type'))) {
    return errorReply(
      415,
      'unsupported-media-type',
      'a job is started with Content-Type: application/json (the body may be empty)',
    );
  }
  const drainingReply = core.refuseWhileDraining();
  if (drainingReply !== null) return drainingReply;
  const idempotencyKey = inc.header('idempotency-key') ?? undefined;
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    return errorReply(
      400,
      'bad-request',
      'Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice)',
    );
  }
  const body = await inc.body(core.o.maxBodyBytes);
  if (body === null) {
    return errorReply(
      413,
      'request-too-large',
      `job input is limited to ${core.o.maxBodyBytes} bytes (maxBodyBytes)`,
    );
  }
  let input: unknown = null;
  if (body.length > 0) {
    try {
      input = JSON.parse(new TextDecoder().decode(body));
    } catch {
      return errorReply(400, 'bad-request', 'the job input must be a JSON body (or empty)');
    }
  }
  try {
    const job = await core.jobs.start(handler, {
      input,
      name,
      identity: allowed.identity,
      idempotencyKey,
    });
    const base = core.o.basePath;
    return jsonReply(
      202,
      { jobId: job.id, stream: `${base}/jobs/${job.id}/events`, result: `${base}/jobs/${job.id}` },
      job.created ? {} : { 'idempotent-replayed': 'true' },
    );
  } catch (error) {
    if (isOutlastError(error, 'overloaded') || isOutlastError(error, 'store-full')) {
      core.metrics.rejected('overloaded');
      return errorReply(503, 'overloaded', error.message, {
        'retry-after': String(core.o.retryAfterSeconds),
      });
    }
    throw error;
  }
}

async function jobRoute(core: ServerCore, inc: Incoming, jobId: string): Promise<Reply> {
  const action = inc.method === 'DELETE' ? 'cancel-job' : 'job';
  const allowed = await core.authorizeAs(inc, jobId, action);
  if ('status' in allowed) return allowed;
  const record = await core.store.getJob(jobId);
  if (record === null || !visible(record, allowed.identity)) return notFound('job');
  // DELETE of a settled job: nothing to cancel, the record says how it ended.
  if (inc.method === 'GET' || record.state !== 'running') return jsonReply(200, served(record));
  // Wherever the job runs: here it is cancelled before the answer, elsewhere its owner is
  // asked through the store (the record then still says `running` for a moment).
  const requested = await core.jobs.cancel(jobId);
  const now = await core.store.getJob(jobId);
  if (requested) return jsonReply(202, served(now ?? record));
  // It settled (or expired) between the two reads.
  return now === null ? notFound('job') : jsonReply(200, served(now));
}

async function route(core: ServerCore, inc: Incoming, parts: string[]): Promise<Reply> {
  const m = inc.method;
  const [first, second, third, ...rest] = parts;
  if (rest.length === 0 && second !== undefined && second !== '') {
    if (first === 'streams' && third === undefined && m === 'GET') {
      return streamRoute(core, inc, second);
    }
    if (first === 'jobs' && third === undefined && m === 'POST') {
      return startJobRoute(core, inc, second);
    }
    if (first === 'jobs' && third === undefined && (m === 'GET' || m === 'DELETE')) {
      return jobRoute(core, inc, second);
    }
    if (first === 'jobs' && third === 'events' && m === 'GET') {
      return streamRoute(core, inc, second);
    }
  }
  if (first === 'reports' && second === undefined && m === 'POST') {
    const denied = await core.authorize(inc, '', 'report');
    if (denied !== null) return denied;
    return readReports(core, inc);
  }
  return errorReply(
    404,
    'unknown-route',
    `no route for ${m} ${inc.url.pathname}; see docs/protocol.md`,
  );
}

/**
 * The transport-neutral request handler behind every adapter. Answers `null` for paths
 * outside the base path (adapters pass those on: `next()`, 404).
 */
export async function handle(core: ServerCore, inc: Incoming): Promise<Reply | null> {
  const parts = routeSegments(core.o.basePath, inc.url.pathname);
  if (parts === null) return null;
  const cors = corsHeaders(core.o.cors, inc.header('origin'), inc.method === 'OPTIONS');
  let reply: Reply;
  if (inc.method === 'OPTIONS') reply = emptyReply(204);
  else if (parts === 'bad')
    reply = errorReply(400, 'bad-request', 'the path is not valid percent-encoding');
  else {
    try {
      reply = await route(core, inc, parts);
    } catch (error) {
      core.onError(error);
      reply = errorReply(500, 'overloaded', 'the server failed to answer; retry later', {
        'retry-after': String(core.o.retryAfterSeconds),
      });
    }
  }
  Object.assign(reply.headers, cors);
  return reply;
}
