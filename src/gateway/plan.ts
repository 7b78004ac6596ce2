import { OutlastError } from '../errors.js';
import type { GatewayRoute, RouteMode } from './options.js';
import { parseRunEventId } from './run-store.js';

/** What the gateway does with one request. */
export type Plan =
  | { kind: 'outlast' }
  | { kind: 'read'; runId: string }
  | { kind: 'start'; mode: 'stream' | 'job'; upstream: URL }
  | { kind: 'pass'; upstream: URL };

/** A route rule with its upstream resolved. */
export interface ResolvedRoute {
  method: string;
  path: string;
  prefix: boolean;
  mode: RouteMode;
  upstream: URL;
}

const MODES = new Set(['stream', 'job', 'pass']);

/** Checks an upstream URL from the configuration: absolute `http:`/`https:`, no query. */
export function parseUpstream(text: string, what = 'upstream'): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OutlastError(
      'invalid-option',
      `${what} must be an absolute http(s) URL, got ${JSON.stringify(text)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutlastError(
      'invalid-option',
      `${what} must use http: or https:, got ${url.protocol}`,
    );
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new OutlastError(
      'invalid-option',
      `${what} must be an origin and an optional path, without query, fragment or credentials`,
    );
  }
  return url;
}

/** `'POST /ocr=job'` (the CLI's `--route`) as a route rule. */
export function parseRouteSpec(spec: string): GatewayRoute {
  const m = /^\s*(?:([A-Za-z]+|\*)\s+)?(\/\S*)\s*=\s*([a-z]+)(?:@(\S+))?\s*$/.exec(spec);
  if (m === null || !MODES.has(m[3]!)) {
    throw new OutlastError(
      'invalid-option',
      `route ${JSON.stringify(spec)} is not "[METHOD] /path=stream|job|pass[@upstream]" (a path ending in * is a prefix)`,
    );
  }
  const route: GatewayRoute = {
    method: (m[1] ?? '*').toUpperCase(),
    path: m[2]!,
    mode: m[3] as RouteMode,
  };
  if (m[4] !== undefined) route.upstream = m[4];
  return route;
}

/** Resolves route rules against the default upstream. */
export function resolveRoutes(routes: GatewayRoute[], upstream: URL): ResolvedRoute[] {
  return routes.map((r, i) => {
    if (!MODES.has(r.mode)) {
      throw new OutlastError(
        'invalid-option',
        `routes[${i}].mode must be stream, job or pass, got ${JSON.stringify(r.mode)}`,
      );
    }
    if (typeof r.path !== 'string' || !r.path.startsWith('/')) {
      throw new OutlastError(
        'invalid-option',
        `routes[${i}].path must begin with /, got ${JSON.stringify(r.path)}`,
      );
    }
    const prefix = r.path.endsWith('*');
    return {
      method: (r.method ?? '*').toUpperCase(),
      path: prefix ? r.path.slice(0, -1) : r.path,
      prefix,
      mode: r.mode,
      upstream:
        r.upstream === undefined ? upstream : parseUpstream(r.upstream, `routes[${i}].upstream`),
    };
  });
}

function matchRoute(
  routes: ResolvedRoute[],
  method: string,
  path: string,
): ResolvedRoute | undefined {
  return routes.find(
    (r) =>
      (r.method === '*' || r.method === method) &&
      (r.prefix ? path.startsWith(r.path) : path === r.path),
  );
}

/** The resume id of a request: the `lastEventId` query wins over `Last-Event-ID`. */
export function resumeId(url: URL, header: (name: string) => string | null): string | null {
  const id = url.searchParams.get('lastEventId') ?? header('last-event-id');
  return id === null || id === '' ? null : id;
}

function prefersAsync(prefer: string | null): boolean {
  // [RFC 7240] Prefer: a comma list of preferences; `respond-async` asks for 202 + a status URL.
  return (prefer ?? '')
    .split(',')
    .some((p) => p.split(';')[0]!.trim().toLowerCase() === 'respond-async');
}

function wantsStream(url: URL, accept: string | null): boolean {
  const transport = url.searchParams.get('transport');
  if (transport === 'poll' || transport === 'sse') return true;
  return (accept ?? '').toLowerCase().includes('text/event-stream');
}

/**
 * Decides what to do with a request (docs/gateway.md, "How a request is handled"): outlast's
 * own routes; a resume (an id of a gateway run); a route rule; `Prefer: respond-async`; a
 * client asking for an event stream; else pass through.
 */
export function plan(
  basePath: string,
  routes: ResolvedRoute[],
  upstream: URL,
  method: string,
  url: URL,
  header: (name: string) => string | null,
): Plan {
  const path = url.pathname;
  if (path === basePath || path.startsWith(`${basePath}/`)) return { kind: 'outlast' };
  const id = resumeId(url, header);
  const parsed = id === null ? null : parseRunEventId(id);
  if (parsed !== null) return { kind: 'read', runId: parsed.runId };
  const route = matchRoute(routes, method, path);
  const target = route?.upstream ?? upstream;
  if (route?.mode === 'pass') return { kind: 'pass', upstream: target };
  if (prefersAsync(header('prefer'))) return { kind: 'start', mode: 'job', upstream: target };
  if (route !== undefined) return { kind: 'start', mode: route.mode, upstream: target };
  if (wantsStream(url, header('accept')))
    return { kind: 'start', mode: 'stream', upstream: target };
  return { kind: 'pass', upstream: target };
}

/** The run name a run is recorded under: method and path, so a resume can check its path. */
export function runName(method: string, path: string): string {
  return `${method} ${path}`;
}

/** Does a run recorded as `name` belong to this path? */
export function runOnPath(name: string | undefined, path: string): boolean {
  if (name === undefined) return false;
  const space = name.indexOf(' ');
  return name.slice(space + 1) === path;
}
