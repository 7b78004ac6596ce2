import type { ServerOptions } from '../server/options.js';
import type { FetchLike } from './upstream.js';

/**
 * What the gateway does with requests to a route:
 * `stream`: the upstream's answer (an SSE stream) is read to its end into an outlast stream
 * that the client reads at once (headers and heartbeats before the upstream answers);
 * `job`: `202` with a job id, the upstream's answer becomes the job's result;
 * `pass`: forwarded as is (an upstream `text/event-stream` answer still becomes a stream).
 */
export type RouteMode = 'stream' | 'job' | 'pass';

/** One route rule. The first rule that matches a request decides. */
export interface GatewayRoute {
  /** HTTP method, upper case, or `'*'`. @default '*' */
  method?: string;
  /** Exact path (`/ocr`), or a prefix ending in `*` (`/v1/*`). */
  path: string;
  /** What to do with matching requests. */
  mode: RouteMode;
  /**
   * Where this route goes, when not the gateway's `upstream`: one of the URLs fixed in the
   * configuration (clients never choose where the gateway connects). @default the `upstream` option
   */
  upstream?: string;
}

/**
 * Every option of the gateway. Defaults are in {@link gatewayDefaults}; the server options
 * (`heartbeatMs`, `maxStreamMs`, `store`, `authorize`, `cors`, limits, ...) apply to the
 * streams and jobs the gateway serves, see docs/server.md.
 */
export interface GatewayOptions
  extends Omit<ServerOptions, 'jobs' | 'maxRunningJobs' | 'maxBodyBytes'> {
  /** The upstream origin (and optional base path) every request goes to, `http:` or `https:`. Required. */
  upstream: string;
  /** Route rules, first match wins. Requests no rule matches are decided per request (docs/gateway.md). @default [] */
  routes?: GatewayRoute[];
  /**
   * Upstream runs (streams and jobs) in progress at once in this process; past it new starts
   * get `503 overloaded` with `Retry-After`.
   * @default 1_000
   */
  maxRuns?: number;
  /**
   * Largest request body the gateway keeps to replay to the upstream for a run or job, bytes;
   * past it: `413 request-too-large`. Requests passed through are streamed and not limited.
   * @default 1_048_576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Largest upstream answer kept as a job's result (plain, non-SSE answers), bytes; past it the
   * job fails with `upstream-too-large`.
   * @default 8_388_608 (8 MiB)
   */
  maxResultBytes?: number;
  /**
   * Longest SSE line accepted from the upstream, bytes; past it the run fails with
   * `upstream-too-large` (nothing is dropped silently).
   * @default 1_048_576 (1 MiB)
   */
  maxLineBytes?: number;
  /** Largest event data accepted from the upstream, bytes; past it: `upstream-too-large`. @default 8_388_608 (8 MiB) */
  maxEventBytes?: number;
  /**
   * Longest wait for the upstream's response headers, ms; past it the run fails with
   * `upstream-timeout`. `null`: no limit of the gateway's own.
   * @default 600_000
   */
  upstreamHeadersTimeoutMs?: number | null;
  /**
   * Longest silence (no byte) of an upstream body being read into a run, ms; past it the run
   * fails with `upstream-timeout`. `null`: none.
   * @default 600_000
   */
  upstreamIdleTimeoutMs?: number | null;
  /** `fetch` used to reach the upstream. @default globalThis.fetch */
  fetch?: FetchLike;
}

/** Default option values of the gateway (over {@link serverDefaults} of the server). */
export const gatewayDefaults = {
  maxRuns: 1_000,
  maxBodyBytes: 1_048_576,
  maxResultBytes: 8_388_608,
  maxLineBytes: 1_048_576,
  maxEventBytes: 8_388_608,
  upstreamHeadersTimeoutMs: 600_000 as number | null,
  upstreamIdleTimeoutMs: 600_000 as number | null,
} as const;
