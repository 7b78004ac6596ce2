import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { corsHeaders, errorReply, type Reply } from '../server/http.js';
import { type NodeHandler, nodeIncoming } from '../server/node.js';
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

function send(gw: GatewayCore, req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = {
    ...reply.headers,
    ...corsHeaders(gw.core.o.cors, req.headers.origin ?? null, false),
  };
  res.writeHead(reply.status, headers);
  res.end(reply.body ?? undefined);
}

function clientOf(req: IncomingMessage): ClientInfo {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  return { address: req.socket.remoteAddress ?? null, proto: encrypted ? 'https' : 'http' };
}

/** Hands the request to the server's routes under another URL (as a mount point would). */
function reroute(
  gw: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  fresh: boolean,
): void {
  req.url = path;
  const r = req as { originalUrl?: string };
  if (r.originalUrl !== undefined) r.originalUrl = path;
  // A POST that started a run reconnects by reading it: reads are GETs.
  req.method = 'GET';
  if (fresh) delete req.headers['last-event-id'];
  gw.outlast.handleNode(req, res);
}

/** Response headers for Node, keeping every `Set-Cookie`. */
function responseHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.fromEntries(
    endToEnd(headers, ['content-encoding', 'content-length', 'set-cookie']),
  );
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  return out;
}

async function serveStart(
  gw: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  target: URL,
  mode: 'stream' | 'job',
  answered?: { response: Response; abort: AbortController },
): Promise<void> {
  const result = await startRun(
    gw,
    nodeIncoming(req, res, url, gw.core.monotonicNow()),
    target,
    mode,
    clientOf(req),
    answered,
  );
  if (typeof result !== 'string') {
    send(gw, req, res, result);
    return;
  }
  if (mode === 'job') {
    send(gw, req, res, acceptedReply(gw, result));
    return;
  }
  res.setHeader('outlast-run', result);
  reroute(gw, req, res, runStreamPath(gw, result, url, true), true);
}

async function pass(
  gw: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  target: URL,
): Promise<void> {
  const method = req.method ?? 'GET';
  const abort = new AbortController();
  let isRun = false;
  gw.counts.passing++;
  res.once('close', () => {
    gw.counts.passing--;
    // A plain request ends with its client; a run does not.
    if (!isRun && !res.writableFinished) abort.abort();
  });
  let response: Response;
  try {
    response = await gw.fetch(upstreamUrl(target, url), {
      method,
      headers: upstreamHeaders(
        nodeIncoming(req, res, url, gw.core.monotonicNow()).request().headers,
        clientOf(req),
      ),
      body:
        method === 'GET' || method === 'HEAD'
          ? null
          : (Readable.toWeb(req) as ReadableStream<Uint8Array>),
      duplex: 'half',
      signal: abort.signal,
      redirect: 'manual',
    });
  } catch (error) {
    if (abort.signal.aborted) return;
    const e = classify(error, 'connect', target.origin);
    send(gw, req, res, badGatewayReply(e.code, e.message));
    return;
  }
  if (abort.signal.aborted) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  if (isEventStream(response) && response.status < 500 && method !== 'HEAD') {
    isRun = true;
    await serveStart(gw, req, res, url, target, 'stream', { response, abort });
    return;
  }
  res.writeHead(response.status, responseHeaders(response.headers));
  if (response.body === null) {
    res.end();
    return;
  }
  const body = Readable.fromWeb(
    response.body as import('node:stream/web').ReadableStream<Uint8Array>,
  );
  body.on('error', () => res.destroy());
  body.pipe(res);
}

/**
 * The gateway's Node handler (`node:http`, Express, Fastify with `reply.hijack()`):
 * outlast's routes, run starts and reads, and everything else passed through.
 */
export function createGatewayNodeHandler(gw: GatewayCore): NodeHandler {
  return (req, res, next) => {
    const raw = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    let url: URL;
    try {
      url = new URL(raw, 'http://localhost');
    } catch {
      send(gw, req, res, errorReply(400, 'bad-request', 'the request URL is not valid'));
      return;
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    };
    const method = req.method ?? 'GET';
    const preflight = preflightReply(gw, method, header);
    if (preflight !== null && !url.pathname.startsWith(`${gw.core.o.basePath}/`)) {
      send(gw, req, res, preflight);
      return;
    }
    const p = planRequest(gw, method, url, header);
    let work: Promise<void>;
    if (p.kind === 'outlast') {
      gw.outlast.handleNode(req, res, next);
      return;
    }
    if (p.kind === 'read') {
      work = checkRead(gw, p.runId, url.pathname).then((refused) => {
        if (refused !== null) send(gw, req, res, refused);
        else reroute(gw, req, res, runStreamPath(gw, p.runId, url, false), false);
      });
    } else if (p.kind === 'start') {
      work = serveStart(gw, req, res, url, p.upstream, p.mode);
    } else {
      work = pass(gw, req, res, url, p.upstream);
    }
    work.catch((error: unknown) => {
      gw.core.onError(error);
      send(
        gw,
        req,
        res,
        errorReply(500, 'overloaded', 'the gateway failed to answer; retry later'),
      );
    });
  };
}
