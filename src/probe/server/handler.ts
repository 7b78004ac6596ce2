import type { Server } from 'node:http';
import { ProbeCore, type ProbeRequestInfo } from './core.js';
import { createProbeNodeHandler, type ProbeNodeHandler } from './node.js';
import type { ProbeServerOptions, ResolvedProbeServerOptions } from './options.js';
import { attachProbeWebSocket } from './ws.js';

/** The probe endpoints, ready to mount in an app (see `docs/probe.md`, "Endpoints"). */
export interface ProbeHandler {
  /** The options in effect. */
  readonly options: Readonly<ResolvedProbeServerOptions>;
  /** Probe connections held now. */
  readonly held: number;
  /**
   * Fetch-style handler (Hono, Bun, Deno, Workers): resolves to `null` for paths outside the
   * base path so it can sit in front of other routes.
   */
  fetch(request: Request, info?: ProbeRequestInfo): Promise<Response | null>;
  /** Node handler (node:http, Express, Fastify raw): other paths go to `next()` or 404. */
  readonly handleNode: ProbeNodeHandler;
  /** Serves the WebSocket probes on a Node server's `upgrade` event; returns a detach function. */
  attachWebSocket(server: Server): () => void;
}

/**
 * Creates the probe endpoints: holds without headers, silence after headers, chatty streams,
 * silence-then-marker, timestamped trains with and without anti-buffering headers, long-poll
 * holds, an echo of the request headers, and their WebSocket equivalents.
 *
 * @example
 * const probe = createProbeHandler({ token: process.env.PROBE_TOKEN });
 * const server = createServer((req, res) => probe.handleNode(req, res, () => app(req, res)));
 * probe.attachWebSocket(server);
 */
export function createProbeHandler(options: ProbeServerOptions = {}): ProbeHandler {
  const core = new ProbeCore(options);
  return {
    options: core.o,
    get held() {
      return core.guard.held;
    },
    fetch: (request, info) => core.handle(request, info),
    handleNode: createProbeNodeHandler(core),
    attachWebSocket: (server) => attachProbeWebSocket(core, server),
  };
}
