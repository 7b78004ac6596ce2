/**
 * `outlast/gateway`: a reverse proxy that gives an existing backend (FastAPI on uvicorn, an
 * OpenAI-compatible API, anything HTTP) outlast's behaviour without changing it: upstream
 * event streams read to their end into resumable outlast streams, long requests as jobs,
 * WebSockets passed through. See `docs/gateway.md`.
 * @packageDocumentation
 */
import type { Server } from 'node:http';
import type { NodeHandler } from '../server/node.js';
import type { Outlast } from '../server/outlast.js';
import { createGatewayFetchHandler, type FetchClientInfo } from './fetch.js';
import { createGatewayCore, type GatewayStats } from './gateway.js';
import { createGatewayNodeHandler } from './node.js';
import type { GatewayOptions } from './options.js';
import { attachGatewayWebSocket } from './websocket.js';

export type { FetchClientInfo } from './fetch.js';
export type { GatewayStats } from './gateway.js';
export {
  type GatewayOptions,
  type GatewayRoute,
  gatewayDefaults,
  type RouteMode,
} from './options.js';
export { parseRouteSpec } from './plan.js';
export type { UpstreamResult } from './run.js';
export { parseRunEventId } from './run-store.js';
export type { FetchLike, UpstreamErrorCode } from './upstream.js';

/** A gateway in front of one upstream. */
export interface Gateway {
  /** The embedded outlast server: its streams are the runs, its jobs the runs started as jobs. */
  readonly outlast: Outlast;
  /** Node handler (`node:http`, Express, Fastify with `reply.hijack()`). */
  readonly handleNode: NodeHandler;
  /** Fetch-style handler (Hono, Bun, Deno, Workers): everything but WebSocket. */
  fetch(request: Request, info?: FetchClientInfo): Promise<Response>;
  /** Serves WebSocket upgrades on a Node server: outlast's transport for runs, tunnels for the rest. */
  attachWebSocket(server: Server): () => void;
  /** What the gateway holds now (every count is zero when idle). */
  stats(): GatewayStats;
  /** Ends every client connection and cancels every upstream run. */
  close(): Promise<void>;
}

/**
 * Creates a gateway; see {@link GatewayOptions} for every option and its default.
 * @throws {OutlastError} `invalid-option` for a missing or bad `upstream`, route or limit.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const gw = createGatewayCore(options);
  const handleNode = createGatewayNodeHandler(gw);
  const fetch = createGatewayFetchHandler(gw);
  return {
    outlast: gw.outlast,
    handleNode,
    fetch,
    attachWebSocket: (server) => attachGatewayWebSocket(gw, server),
    stats: () => ({
      runs: gw.core.jobs.size,
      connections: gw.core.connections,
      passing: gw.counts.passing,
      tunnels: gw.counts.tunnels,
    }),
    async close() {
      await gw.outlast.close();
      // A store the gateway made is the gateway's to close; one passed in is the caller's.
      if (options.store === undefined) await gw.core.store.close();
    },
  };
}
