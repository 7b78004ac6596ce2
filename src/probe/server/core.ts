import { scheduledBody, sseHeaders, trainEvent } from './bodies.js';
import { ProbeGuard, type Refusal, requestToken } from './guard.js';
import {
  PROBE_PROTOCOL,
  type ProbeServerOptions,
  type ResolvedProbeServerOptions,
  resolveProbeServerOptions,
} from './options.js';
import { probePage } from './page.js';

/** Where a request came from, as the adapter knows it. */
export interface ProbeRequestInfo {
  /** The peer address (the last hop's, behind proxies). @default 'unknown' */
  remoteAddress?: string;
  /**
   * The request's header lines as received, name and value alternating, in their order and
   * case (Node's `rawHeaders`): what each hop rewrote shows in them. @default none
   */
  rawHeaders?: readonly string[];
}

const JSON_TYPE = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
};

/** Raw header lines as pairs in arrival order, without `authorization`; null when unknown. */
function rawPairs(raw: readonly string[] | undefined): Array<[string, string]> | null {
  if (raw === undefined) return null;
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'authorization') out.push([raw[i]!, raw[i + 1]!]);
  }
  return out;
}

/** A JSON error response in the server's shape: `{"error":{"code","message"}}`. */
export function probeError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { ...JSON_TYPE, ...headers },
  });
}

/** A refusal as a response (401 or 429 with `Retry-After`). */
export function refusalResponse(r: Refusal): Response {
  return probeError(
    r.status,
    r.code,
    r.message,
    r.retryAfterSeconds === undefined ? {} : { 'retry-after': String(r.retryAfterSeconds) },
  );
}

/** Reads a non-negative integer query parameter; a string is the error message. */
export function intParam(
  url: URL,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number | string {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) return `${name}=${raw} is not a non-negative integer of milliseconds`;
  const n = Number(raw);
  if (n < min || n > max) return `${name}=${raw} is out of range [${min}, ${max}]`;
  return n;
}

/** The pure core of the probe endpoints, over Web `Request`/`Response`. */
export class ProbeCore {
  readonly o: ResolvedProbeServerOptions;
  readonly guard: ProbeGuard;

  constructor(options: ProbeServerOptions = {}) {
    this.o = resolveProbeServerOptions(options);
    this.guard = new ProbeGuard(this.o);
  }

  /** The endpoint name of a path under the base path, or null when outside it. */
  route(pathname: string): string | null {
    const base = this.o.basePath;
    if (pathname !== base && pathname !== `${base}/` && !pathname.startsWith(`${base}/`)) {
      return null;
    }
    return pathname.slice(base.length).replace(/^\/+|\/+$/g, '');
  }

  /** What the info endpoint says: how a client knows it reached a probe server. */
  info(): Record<string, unknown> {
    return {
      protocol: PROBE_PROTOCOL,
      maxHoldMs: this.o.maxHoldMs,
      endpoints: ['hold', 'silence', 'chatty', 'marker', 'train', 'poll', 'echo', 'ws', 'ui'],
      time: this.o.now(),
    };
  }

  /**
   * Answers a probe request, or `null` when the path is outside the base path. `signal`
   * fires when the client goes away (holds and streams then stop at once).
   */
  async handle(
    request: Request,
    info: ProbeRequestInfo = {},
    signal: AbortSignal = request.signal,
  ): Promise<Response | null> {
    const url = new URL(request.url);
    const endpoint = this.route(url.pathname);
    if (endpoint === null) return null;
    if (endpoint === 'ui' && this.o.page) {
      return new Response(probePage(this.o.basePath), {
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      });
    }
    const refused = this.guard.admit(
      requestToken(url, request.headers.get('authorization')),
      info.remoteAddress ?? 'unknown',
    );
    if (refused !== null) return refusalResponse(refused);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return probeError(405, 'bad-request', 'probe endpoints answer GET only');
    }
    if (endpoint === '' || endpoint === 'info') {
      return new Response(JSON.stringify(this.info()), { headers: JSON_TYPE });
    }
    if (endpoint === 'echo') return this.echo(request, url, info);
    const known = ['hold', 'silence', 'chatty', 'marker', 'train', 'poll'];
    if (!known.includes(endpoint)) {
      return probeError(
        404,
        'unknown-route',
        `no probe endpoint "${endpoint}"; endpoints: ${[...known, 'echo', 'ws', 'ui'].join(', ')}`,
      );
    }
    const ms = intParam(url, 'ms', 60_000, 0, this.o.maxHoldMs);
    if (typeof ms === 'string') return probeError(400, 'bad-query', `${ms} (maxHoldMs)`);
    const slot = this.guard.acquire();
    if (typeof slot !== 'function') return refusalResponse(slot);
    try {
      return await this.stream(endpoint, url, ms, signal, slot);
    } catch (error) {
      slot();
      throw error;
    }
  }

  private echo(request: Request, url: URL, info: ProbeRequestInfo): Response {
    const headers: Array<[string, string]> = [];
    request.headers.forEach((value, name) => {
      if (name !== 'authorization') headers.push([name, value]);
    });
    return new Response(
      JSON.stringify({
        protocol: PROBE_PROTOCOL,
        method: request.method,
        path: url.pathname,
        remoteAddress: info.remoteAddress ?? null,
        headers,
        rawHeaders: rawPairs(info.rawHeaders),
        time: this.o.now(),
      }),
      { headers: JSON_TYPE },
    );
  }

  private async stream(
    endpoint: string,
    url: URL,
    ms: number,
    signal: AbortSignal,
    release: () => void,
  ): Promise<Response> {
    const now = this.o.now;
    const min = this.o.minIntervalMs;
    if (endpoint === 'hold' || endpoint === 'poll') {
      // No headers until `ms`: what a first-byte clock (or an idle clock before headers) sees.
      const held = await wait(ms, signal);
      release();
      if (endpoint === 'hold') {
        return new Response(`held ${held ? ms : 0} ms\n`, {
          headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
        });
      }
      return new Response(JSON.stringify({ events: [], heldMs: ms, time: now() }), {
        headers: JSON_TYPE,
      });
    }
    const open = `: open ${now()}\n\n`;
    if (endpoint === 'silence') {
      const body = scheduledBody(
        open,
        (i) => (i === 0 ? { at: ms, chunk: () => `: end ${now()}\n\n` } : null),
        release,
      );
      return new Response(body, { headers: sseHeaders(true) });
    }
    if (endpoint === 'chatty') {
      const hb = intParam(url, 'heartbeat', 1000, min, this.o.maxHoldMs);
      if (typeof hb === 'string') return fail(release, hb);
      const body = scheduledBody(
        open,
        (i) => {
          const at = (i + 1) * hb;
          if (at <= ms) return { at, chunk: () => `: hb ${now()}\n\n` };
          // Then the end stamp: a client can tell the server's end from a hop ending it early.
          return i === Math.floor(ms / hb) ? { at: ms, chunk: () => `: end ${now()}\n\n` } : null;
        },
        release,
      );
      return new Response(body, { headers: sseHeaders(true) });
    }
    if (endpoint === 'marker') {
      const after = intParam(url, 'after', ms, 0, this.o.maxHoldMs);
      if (typeof after === 'string') return fail(release, after);
      const body = scheduledBody(
        open,
        (i) => (i === 0 ? { at: after, chunk: () => `event: marker\ndata: ${now()}\n\n` } : null),
        release,
      );
      return new Response(body, { headers: sseHeaders(true) });
    }
    // train
    const interval = intParam(url, 'interval', 50, min, this.o.maxHoldMs);
    const count = intParam(url, 'count', 40, 1, this.o.maxTrainEvents);
    const size = intParam(url, 'size', 256, 16, this.o.maxEventBytes);
    for (const v of [interval, count, size]) if (typeof v === 'string') return fail(release, v);
    const n = count as number;
    const every = interval as number;
    if (n * every > this.o.maxHoldMs) {
      return fail(release, `count x interval is above maxHoldMs ${this.o.maxHoldMs}`);
    }
    const anti = url.searchParams.get('anti') === '1';
    const body = scheduledBody(
      `retry: 1000\n\n`,
      (i) => (i >= n ? null : { at: i * every, chunk: () => trainEvent(i, now(), size as number) }),
      release,
    );
    return new Response(body, { headers: sseHeaders(anti) });
  }
}

function fail(release: () => void, message: string): Response {
  release();
  return probeError(400, 'bad-query', message);
}

/** Resolves `true` after `ms`, or `false` as soon as `signal` fires. */
function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
