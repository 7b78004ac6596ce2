import { isOutlastError, OutlastError } from '../errors.js';
import type { ServerCore } from '../server/core.js';
import {
  corsHeaders,
  emptyReply,
  errorReply,
  type Incoming,
  jsonReply,
  type Reply,
} from '../server/http.js';
import { createOutlast, type Outlast } from '../server/outlast.js';
import { createMemoryStore } from '../store/memory.js';
import { type GatewayOptions, gatewayDefaults } from './options.js';
import {
  type Plan,
  parseUpstream,
  plan,
  type ResolvedRoute,
  resolveRoutes,
  runName,
  runOnPath,
} from './plan.js';
import { type RunSettings, upstreamRun } from './run.js';
import { runStore } from './run-store.js';
import { type ClientInfo, type FetchLike, upstreamHeaders, upstreamUrl } from './upstream.js';

/** Counts of what a gateway holds now; all zero when it is idle. */
export interface GatewayStats {
  /** Upstream runs in progress (streams and jobs). */
  runs: number;
  /** Client connections reading runs (SSE, WebSocket, held polls). */
  connections: number;
  /** Requests being passed through (plain HTTP). */
  passing: number;
  /** WebSockets passed through to the upstream. */
  tunnels: number;
}

/** Shared state of one gateway. Internal: the adapters build on it. */
export interface GatewayCore {
  readonly outlast: Outlast;
  readonly core: ServerCore;
  readonly upstream: URL;
  readonly routes: ResolvedRoute[];
  readonly settings: RunSettings;
  readonly fetch: FetchLike;
  /** Largest request body kept for a run. */
  readonly maxBodyBytes: number;
  readonly counts: { passing: number; tunnels: number };
}

/** Gateway streams hold whole LLM answers: more events per stream than the server's default. */
const DEFAULT_STORE = { maxEventsPerStream: 100_000, maxBytesPerStream: 16_777_216 } as const;

/** Applies defaults, checks the options and builds the embedded outlast server. */
export function createGatewayCore(options: GatewayOptions): GatewayCore {
  if (options === undefined || typeof options.upstream !== 'string') {
    throw new OutlastError(
      'invalid-option',
      'createGateway needs { upstream: "http://host:port" }, the one place it forwards to',
    );
  }
  const upstream = parseUpstream(options.upstream);
  const routes = resolveRoutes(options.routes ?? [], upstream);
  const o = { ...gatewayDefaults, ...options };
  for (const name of [
    'maxRuns',
    'maxBodyBytes',
    'maxResultBytes',
    'maxLineBytes',
    'maxEventBytes',
  ] as const) {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new OutlastError(
        'invalid-option',
        `${name} must be a positive number, got ${String(v)}`,
      );
    }
  }
  for (const name of ['upstreamHeadersTimeoutMs', 'upstreamIdleTimeoutMs'] as const) {
    const v = o[name];
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) {
      throw new OutlastError(
        'invalid-option',
        `${name} must be a positive number or null, got ${String(v)}`,
      );
    }
  }
  const fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const {
    upstream: _u,
    routes: _r,
    maxRuns,
    maxResultBytes,
    maxLineBytes,
    maxEventBytes,
    upstreamHeadersTimeoutMs,
    upstreamIdleTimeoutMs,
    fetch: _f,
    ...server
  } = o;
  const outlast = createOutlast({
    ...server,
    store: runStore(options.store ?? createMemoryStore(DEFAULT_STORE)),
    maxRunningJobs: maxRuns,
    jobs: {},
  });
  return {
    outlast,
    core: (outlast as unknown as { core: ServerCore }).core,
    upstream,
    routes,
    fetch,
    maxBodyBytes: o.maxBodyBytes,
    settings: {
      fetch,
      maxResultBytes,
      maxLineBytes,
      maxEventBytes,
      upstreamHeadersTimeoutMs,
      upstreamIdleTimeoutMs,
    },
    counts: { passing: 0, tunnels: 0 },
  };
}

/** Plans a request. */
export function planRequest(
  gw: GatewayCore,
  method: string,
  url: URL,
  header: (name: string) => string | null,
): Plan {
  return plan(gw.core.o.basePath, gw.routes, gw.upstream, method, url, header);
}

/**
 * A resume on an upstream path: the run must exist and belong to this path (an id of a run
 * of another route is refused, not served). `null`: go on and read it.
 */
export async function checkRead(
  gw: GatewayCore,
  runId: string,
  path: string,
): Promise<Reply | null> {
  const record = await gw.core.store.getJob(runId);
  if (record === null) {
    return errorReply(
      404,
      'unknown-stream',
      'no such run (it may have ended and expired); start again without Last-Event-ID',
    );
  }
  if (!runOnPath(record.name, path)) {
    return errorReply(
      404,
      'unknown-stream',
      `that id belongs to a run of another route, not ${path}`,
    );
  }
  return null;
}

const NO_BODY = new Set(['GET', 'HEAD']);

/** The run's `outlast.run` event: gives a reader an id before the upstream says anything. */
function announcer(gw: GatewayCore): (id: string) => Promise<void> {
  return async (id) => {
    await gw.core.append(id, 'outlast.run', { run: id });
  };
}

function overloaded(gw: GatewayCore, error: OutlastError): Reply {
  gw.core.metrics.rejected('overloaded');
  return errorReply(503, 'overloaded', error.message, {
    'retry-after': String(gw.core.o.retryAfterSeconds),
  });
}

/**
 * Starts an upstream run for a request: authorizes (`start-job`, with the run name), reads
 * the body within `maxBodyBytes`, starts the job. Resolves to the run id, or the refusal.
 * `answered`: the upstream already answered a passed-through request with an event stream.
 */
export async function startRun(
  gw: GatewayCore,
  inc: Incoming,
  target: URL,
  mode: 'stream' | 'job',
  client: ClientInfo,
  answered?: { response: Response; abort: AbortController },
): Promise<Reply | string> {
  const name = runName(inc.method, inc.url.pathname);
  const denied = await gw.core.authorize(inc, name, 'start-job');
  if (denied !== null) return denied;
  let body: Uint8Array | null = null;
  if (answered === undefined && !NO_BODY.has(inc.method)) {
    body = await inc.body(gw.maxBodyBytes);
    if (body === null) {
      return errorReply(
        413,
        'request-too-large',
        `a run's request body is limited to ${gw.maxBodyBytes} bytes (maxBodyBytes)`,
      );
    }
  }
  const headers = upstreamHeaders(inc.request().headers, client, ['prefer', 'accept-encoding']);
  // The gateway parses what it reads: no compression between it and the upstream.
  headers.set('accept-encoding', 'identity');
  const prefer = inc.header('prefer');
  if (prefer !== null) {
    const rest = prefer
      .split(',')
      .filter((p) => p.split(';')[0]!.trim().toLowerCase() !== 'respond-async')
      .join(',')
      .trim();
    if (rest !== '') headers.set('prefer', rest);
  }
  const fn = upstreamRun(
    gw.settings,
    { url: upstreamUrl(target, inc.url), method: inc.method, headers, body },
    target.origin,
    { answered, announce: mode === 'stream' ? announcer(gw) : undefined },
  );
  try {
    const job = await gw.core.jobs.start(fn, { name });
    return job.id;
  } catch (error) {
    answered?.abort.abort();
    if (isOutlastError(error, 'overloaded') || isOutlastError(error, 'store-full'))
      return overloaded(gw, error);
    throw error;
  }
}

/** The `202` of a run started as a job. */
export function acceptedReply(gw: GatewayCore, runId: string): Reply {
  const base = gw.core.o.basePath;
  return jsonReply(
    202,
    { jobId: runId, stream: `${base}/jobs/${runId}/events`, result: `${base}/jobs/${runId}` },
    { location: `${base}/jobs/${runId}`, 'preference-applied': 'respond-async' },
  );
}

/** Where a run is read through the server's routes: its job stream, with the client's query. */
export function runStreamPath(gw: GatewayCore, runId: string, url: URL, fresh: boolean): string {
  const query = new URLSearchParams(url.search);
  if (fresh) query.delete('lastEventId');
  const search = query.size > 0 ? `?${query}` : '';
  return `${gw.core.o.basePath}/jobs/${runId}/events${search}`;
}

/** An upstream that could not be reached for a passed-through request: 502 with the code. */
export function badGatewayReply(code: string, message: string): Reply {
  return jsonReply(502, { error: { code, message } });
}

/**
 * A CORS preflight to an upstream path, answered by the gateway when `cors` is set: a page on
 * another origin sends `Prefer` and `Last-Event-ID`, which are not safelisted, so its job
 * starts and resumes need one. `null`: not a preflight, or no `cors` option (the upstream
 * answers its own preflights then).
 */
export function preflightReply(
  gw: GatewayCore,
  method: string,
  header: (name: string) => string | null,
): Reply | null {
  if (
    method !== 'OPTIONS' ||
    gw.core.o.cors === null ||
    header('access-control-request-method') === null
  )
    return null;
  const headers = corsHeaders(gw.core.o.cors, header('origin'), true);
  const asked = header('access-control-request-headers');
  if (headers['access-control-allow-origin'] !== undefined && asked !== null) {
    headers['access-control-allow-headers'] = asked;
    headers['access-control-allow-methods'] = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
  }
  return emptyReply(204, headers);
}
