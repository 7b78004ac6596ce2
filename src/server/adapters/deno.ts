/**
 * `outlast/deno`: serves every route, WebSocket included, from `Deno.serve`:
 * `Deno.serve({ port: 3000 }, denoHandler(outlast))`.
 * @packageDocumentation
 */
import { createFetchHandler } from '../fetch.js';
import type { Outlast } from '../outlast.js';
import {
  coreOf,
  outsideBase,
  type StandardWebSocket,
  serveStandardSocket,
  upgradeFetch,
} from './socket.js';

/** `Deno.upgradeWebSocket`, as the binding calls it. */
export type DenoUpgrade = (request: Request) => { socket: StandardWebSocket; response: Response };

function denoUpgrade(): DenoUpgrade {
  const deno = (globalThis as { Deno?: { upgradeWebSocket?: DenoUpgrade } }).Deno;
  if (deno?.upgradeWebSocket === undefined) {
    throw new Error('outlast/deno: Deno.upgradeWebSocket is missing; this binding runs on Deno');
  }
  return deno.upgradeWebSocket;
}

/** The part of `Deno.ServeHandlerInfo` the binding uses. */
export interface DenoServeInfo {
  /** The client's address (the peer of `maxConnectionsPerAddress`). */
  remoteAddr?: { hostname?: string };
}

/**
 * A `Deno.serve` handler. Requests outside the base path go to `fallback` (default: 404
 * JSON). `upgrade` defaults to `Deno.upgradeWebSocket`.
 */
export function denoHandler(
  outlast: Outlast,
  fallback?: (request: Request) => Response | Promise<Response>,
  upgrade: DenoUpgrade = denoUpgrade(),
): (request: Request, info?: DenoServeInfo) => Promise<Response> {
  const core = coreOf(outlast);
  const serve = createFetchHandler(core);
  return async (request, info) => {
    if (fallback !== undefined && outsideBase(core, request)) return fallback(request);
    const peer = info?.remoteAddr?.hostname ?? null;
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      return serve(request, peer);
    }
    const answer = await upgradeFetch(
      core,
      request,
      (admission) => {
        const { socket, response } = upgrade(request);
        serveStandardSocket(core, admission, socket);
        return response;
      },
      peer,
    );
    return answer ?? serve(request, peer);
  };
}
