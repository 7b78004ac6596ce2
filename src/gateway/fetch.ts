import { corsHeaders, errorReply, type Incoming, type Reply } from '../server/http.js';
import {
  acceptedReply,
  badGatewayReply,
  checkRead,
  type GatewayCore,
  planRequest,
  preflightReply,
  runStreamPath,
  startRun,
} from './gateway.js';
import { isEventStream } from './run.js';
import { type ClientInfo, classify, endToEnd, upstreamHeaders, upstreamUrl } from './upstream.js';

/** Optional facts a fetch-style runtime knows about the client. */
export interface FetchClientInfo {
  /** The client's address, for `X-Forwarded-For`. @default none */
  remoteAddress?: string;
}

function toResponse(gw: GatewayCore, request: Request, reply: Reply): Response {
  const headers = {
    ...reply.headers,
    ...corsHeaders(gw.core.o.cors, request.headers.get('origin'), false),
  };
  return new Response(reply.body, { status: reply.status, headers });
}

function incoming(request: Request, url: URL, arrivedAt: number): Incoming {
  return {
    signal: request.signal,
    arrivedAt,
    method: request.method,
    url,
    header: (name) => request.headers.get(name),
    request: () => request,
    async body(limit) {
      if (Number(request.headers.get('content-length') ?? 0) > limit) return null;
      const bytes = new Uint8Array(await request.arrayBuffer());
      return bytes.byteLength > limit ? null : bytes;
    },
    onClose: (listener) => request.signal.addEventListener('abort', listener, { once: true }),
  };
}

/** Reads a run through the server's fetch adapter, as a GET of its job stream. */
async function read(
  gw: GatewayCore,
  request: Request,
  path: string,
  fresh: boolean,
  runId: string,
): Promise<Response> {
  const headers = new Headers(request.headers);
  if (fresh) headers.delete('last-event-id');
  const inner = new Request(new URL(path, request.url), {
    method: 'GET',
    headers,
    signal: request.signal,
  });
  const response = await gw.outlast.fetch(inner);
  if (!fresh) return response;
  const out = new Headers(response.headers);
  out.set('outlast-run', runId);
  return new Response(response.body, { status: response.status, headers: out });
}

async function start(
  gw: GatewayCore,
  request: Request,
  url: URL,
  target: URL,
  mode: 'stream' | 'job',
  client: ClientInfo,
  answered?: { response: Response; abort: AbortController },
): Promise<Response> {
  const result = await startRun(
    gw,
    incoming(request, url, gw.core.monotonicNow()),
    target,
    mode,
    client,
    answered,
  );
  if (typeof result !== 'string') return toResponse(gw, request, result);
  if (mode === 'job') return toResponse(gw, request, acceptedReply(gw, result));
  return read(gw, request, runStreamPath(gw, result, url, true), true, result);
}

async function pass(
  gw: GatewayCore,
  request: Request,
  url: URL,
  target: URL,
  client: ClientInfo,
): Promise<Response> {
  // Linked to the client until the answer turns out to be an event stream (then a run).
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  request.signal.addEventListener('abort', onAbort, { once: true });
  let response: Response;
  try {
    response = await gw.fetch(upstreamUrl(target, url), {
      method: request.method,
      headers: upstreamHeaders(request.headers, client),
      body: request.body,
      duplex: 'half',
      signal: abort.signal,
      redirect: 'manual',
    });
  } catch (error) {
    request.signal.removeEventListener('abort', onAbort);
    const e = classify(error, 'connect', target.origin);
    return toResponse(gw, request, badGatewayReply(e.code, e.message));
  }
  if (isEventStream(response) && response.status < 500 && request.method !== 'HEAD') {
    request.signal.removeEventListener('abort', onAbort);
    return start(gw, request, url, target, 'stream', client, { response, abort });
  }
  const headers = endToEnd(response.headers, ['content-encoding', 'content-length']);
  return new Response(response.body, { status: response.status, headers });
}

/** The gateway's fetch-style handler (Hono, Bun, Deno, Workers). WebSocket needs the Node server. */
export function createGatewayFetchHandler(
  gw: GatewayCore,
): (request: Request, info?: FetchClientInfo) => Promise<Response> {
  return async (request, info = {}) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return toResponse(
        gw,
        request,
        errorReply(400, 'bad-request', 'the request URL is not valid'),
      );
    }
    const client: ClientInfo = {
      address: info.remoteAddress ?? null,
      proto: url.protocol.slice(0, -1),
    };
    const header = (name: string) => request.headers.get(name);
    const preflight = preflightReply(gw, request.method, header);
    if (preflight !== null && !url.pathname.startsWith(`${gw.core.o.basePath}/`)) {
      return toResponse(gw, request, preflight);
    }
    const p = planRequest(gw, request.method, url, header);
    try {
      if (p.kind === 'outlast') return await gw.outlast.fetch(request);
      if (p.kind === 'read') {
        const refused = await checkRead(gw, p.runId, url.pathname);
        if (refused !== null) return toResponse(gw, request, refused);
        return await read(gw, request, runStreamPath(gw, p.runId, url, false), false, p.runId);
      }
      if (p.kind === 'start') return await start(gw, request, url, p.upstream, p.mode, client);
      return await pass(gw, request, url, p.upstream, client);
    } catch (error) {
      gw.core.onError(error);
      return toResponse(
        gw,
        request,
        errorReply(500, 'overloaded', 'the gateway failed to answer; retry later'),
      );
    }
  };
}
