import type { Server } from 'node:http';

/** Options of {@link hardenServer}. */
export interface HardenOptions {
  /**
   * How long Node keeps an idle keep-alive connection, ms. Must be longer than the idle
   * timeout of every load balancer in front (AWS ALB 60 s, GCP 600 s: raise it for GCP).
   * @default 65_000
   */
  keepAliveTimeoutMs?: number;
  /**
   * Time to receive request headers, ms. Kept above `keepAliveTimeoutMs`, else Node may
   * close a reused connection while the load balancer sends on it.
   * @default keepAliveTimeoutMs + 1_000
   */
  headersTimeoutMs?: number;
}

/** Default values of {@link hardenServer}. */
export const hardenDefaults = { keepAliveTimeoutMs: 65_000 } as const;

/**
 * Sets a Node server's timeouts for long-lived responses behind load balancers:
 *
 * - `keepAliveTimeout` 65 s (Node's default is 5 s). A load balancer reuses its connections to
 *   the backend for up to its own idle timeout (ALB: 60 s). When Node closes first, the
 *   balancer sends the next request on a connection that is being closed and answers 502:
 *   the "backend keep-alive shorter than the ALB" failure of the Service Connect incident (uvicorn's 5 s).
 * - `headersTimeout` just above it (Node requires it to be larger than keepAliveTimeout to
 *   avoid the same race on headers).
 * - `requestTimeout` 0 and `timeout` 0: nothing in Node ends a response because it is long.
 *   Idle clients are found by heartbeats and per-connection buffers instead.
 *
 * Returns the server.
 */
export function hardenServer<S extends Server>(server: S, options: HardenOptions = {}): S {
  const keepAlive = options.keepAliveTimeoutMs ?? hardenDefaults.keepAliveTimeoutMs;
  server.keepAliveTimeout = keepAlive;
  server.headersTimeout = Math.max(options.headersTimeoutMs ?? keepAlive + 1_000, keepAlive + 1);
  server.requestTimeout = 0;
  server.setTimeout(0);
  return server;
}
