import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProbeCore } from './core.js';

/** A Node `(req, res, next?)` handler: node:http, Express, Connect, Fastify's raw objects. */
export type ProbeNodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/** The Web `Request` of a Node request (probe endpoints read no body). */
export function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const raw = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  return new Request(`http://${req.headers.host ?? 'localhost'}${raw}`, {
    method: req.method ?? 'GET',
    headers,
    signal,
  });
}

/**
 * Writes a Web `Response` onto a Node response: head flushed at once, Nagle off, every chunk
 * written as it comes (a probe measures when bytes leave, so nothing may sit in a buffer).
 */
export async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => {
    headers[k] = v;
  });
  res.writeHead(response.status, headers);
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.once('close', () => {
    reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      res.write(value);
    }
    res.end();
  } catch {
    res.destroy();
  }
}

/** The Node adapter of a probe core. Paths outside the base path go to `next()` or 404. */
export function createProbeNodeHandler(core: ProbeCore): ProbeNodeHandler {
  return (req, res, next) => {
    const controller = new AbortController();
    res.once('close', () => controller.abort());
    let request: Request;
    try {
      request = toRequest(req, controller.signal);
    } catch {
      // Methods fetch cannot carry (TRACE, CONNECT, TRACK) and targets that are no URL
      // (`OPTIONS *`): answered in the probe server's own words, so a probe through a chain
      // can tell "it reached the server" from "a hop answered".
      res.writeHead(405, { 'content-type': 'application/json; charset=utf-8', allow: 'GET, HEAD' });
      res.end(
        `${JSON.stringify({ error: { code: 'bad-request', message: 'probe endpoints answer GET only' } })}\n`,
      );
      return;
    }
    core
      .handle(
        request,
        { remoteAddress: req.socket.remoteAddress ?? 'unknown', rawHeaders: req.rawHeaders },
        controller.signal,
      )
      .then(
        async (response) => {
          if (response === null) {
            if (next !== undefined) next();
            else {
              res.writeHead(404, { 'content-type': 'text/plain' });
              res.end('not found\n');
            }
            return;
          }
          if (controller.signal.aborted) {
            await response.body?.cancel();
            return;
          }
          await sendResponse(res, response);
        },
        (error: unknown) => {
          if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`probe failed: ${(error as Error).message}\n`);
          } else res.destroy();
        },
      );
  };
}
