import { type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { holdLimit, optedOut, ResponseBuffer } from './buffering.js';
import { type ClockKind, ExchangeClocks } from './clocks.js';
import { Delivery } from './delivery.js';
import { type FingerprintContext, getFingerprint, newExchangeId, reason } from './fingerprints.js';
import type { HopRuntime } from './hop-runtime.js';
import {
  appendForwardedFor,
  flatten,
  forwardHeaders,
  type HeaderList,
  peerAddress,
  setHeader,
} from './http.js';
import type { HopKnobs } from './knobs.js';
import { blackhole } from './silent-drop.js';

/** Pause between the last bytes of a reset exchange and the RST itself. */
const RESET_GRACE_MS = 15;

/** Scales a duration knob; `null` stays off. */
export function scaled(ms: number | null, scale: number): number | null {
  return ms === null ? null : ms * scale;
}

/** Where a clock's cut leaves the client socket: FIN (`end`) or RST. */
export function cutSocket(socket: Socket, how: 'fin' | 'rst'): void {
  if (socket.destroyed) return;
  if (how === 'rst') socket.resetAndDestroy();
  // FIN once queued bytes are out, then release the descriptor without waiting for the peer.
  else socket.destroySoon();
}

/** Picks the reset point of one exchange from the reset knobs, or null. */
export function pickResetPoint(knobs: Readonly<HopKnobs>): number | null {
  let at = knobs.resetAfterBytes;
  if (knobs.resetProbability > 0 && Math.random() < knobs.resetProbability) {
    const r = Math.floor(Math.random() * (knobs.resetMaxBytes + 1));
    at = at === null ? r : Math.min(at, r);
  }
  return at;
}

/** Opens the upstream request of an exchange (http or https target). */
export function openUpstream(
  hop: HopRuntime,
  method: string,
  path: string,
  headers: HeaderList,
  agent: boolean,
): ClientRequest {
  const t = hop.target;
  const options = {
    host: t.hostname.replace(/^\[|\]$/g, ''),
    port: t.port === '' ? (t.protocol === 'https:' ? 443 : 80) : Number(t.port),
    method,
    path: t.pathname === '/' ? path : `${t.pathname.replace(/\/$/, '')}${path}`,
    headers: flatten(headers),
    setHost: false,
    ...(agent ? { agent: hop.agent } : { agent: false }),
  };
  return t.protocol === 'https:' ? httpsRequest(options) : request(options);
}

/**
 * One HTTP request through a hop: forwards it upstream with the hop's fingerprint, runs the
 * clocks, and delivers the response through buffering and faults. A clock that fires before
 * the response headers answers the intermediary's error page; after them it cuts the
 * connection, since HTTP/1.1 has no other way to end a response early.
 */
export function handleExchange(hop: HopRuntime, req: IncomingMessage, res: ServerResponse): void {
  // Clocks, buffering and fingerprints follow the knobs the request arrived with; faults
  // (latency, bandwidth, slicing) follow runtime changes.
  const knobs = hop.knobs;
  const scale = hop.scale();
  const fp = getFingerprint(knobs.fingerprint);
  const clientSocket = req.socket;
  const ctx: FingerprintContext = {
    clientAddress: peerAddress(clientSocket),
    startedAt: Date.now(),
    totalMs: scaled(knobs.totalMs, scale),
    id: newExchangeId(),
  };
  hop.stats.requests++;
  hop.stats.activeExchanges++;

  let finished = false;
  let upstreamDone = false;
  let upstreamRes: IncomingMessage | null = null;
  let delivery: Delivery | null = null;

  const clocks = new ExchangeClocks(
    hop.timers,
    {
      idleMs: scaled(knobs.idleMs, scale),
      totalMs: scaled(knobs.totalMs, scale),
      firstByteMs: scaled(knobs.firstByteMs, scale),
      totalMode: knobs.totalMode,
    },
    (kind) => onClock(kind),
  );

  const cleanup = (): void => {
    if (finished) return;
    finished = true;
    clocks.stop();
    delivery?.destroy();
    hop.stats.activeExchanges--;
  };
  const abortUpstream = (): void => {
    if (upstreamDone) return;
    upstreamDone = true;
    upstreamReq.destroy();
    upstreamRes?.destroy();
  };
  const cut = (how: 'fin' | 'rst'): void => {
    cleanup();
    abortUpstream();
    cutSocket(res.socket ?? clientSocket, how);
  };
  const answer = (status: number): void => {
    cleanup();
    abortUpstream();
    if (res.headersSent || res.destroyed) {
      cutSocket(res.socket ?? clientSocket, 'fin');
      return;
    }
    const page = fp.errorPage(status, ctx);
    const headers: HeaderList = [...page.headers];
    for (const [n, v] of Object.entries(knobs.addResponseHeaders)) setHeader(headers, n, v);
    setHeader(headers, 'content-length', String(Buffer.byteLength(page.body)));
    res.writeHead(status, reason(status), flatten(headers));
    res.end(page.body);
  };
  function onClock(kind: ClockKind): void {
    hop.stats.cuts[kind]++;
    if (knobs.cut === 'silent') {
      cleanup();
      upstreamDone = true;
      const upstreamSocket = upstreamRes === null ? null : upstreamReq.socket;
      if (upstreamSocket === null) upstreamReq.destroy();
      blackhole(res.socket ?? clientSocket, upstreamSocket);
      return;
    }
    // Once the upstream's head is in, the hop has committed to it: a held head goes out
    // and the connection ends (nginx: 200 then FIN). Before it: the hop's own error page.
    const how = knobs.cut;
    if (delivery !== null) delivery.cut(how, 'clock');
    else if (res.headersSent) cut(how);
    else answer(knobs.timeoutStatus);
  }

  // The request, as the real intermediary forwards it.
  const headers = forwardHeaders(req.rawHeaders);
  appendForwardedFor(headers, ctx.clientAddress);
  for (const [n, v] of fp.request(ctx)) setHeader(headers, n, v);
  for (const [n, v] of Object.entries(knobs.addRequestHeaders)) setHeader(headers, n, v);
  const upstreamReq = openUpstream(hop, req.method ?? 'GET', req.url ?? '/', headers, true);

  req.on('data', () => clocks.touch());
  req.pipe(upstreamReq);

  upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
    if (finished || upstreamDone) return;
    hop.stats.upstreamErrors++;
    if (res.headersSent || upstreamRes !== null) {
      cut('fin');
      return;
    }
    const delay = knobs.upstreamErrorDelayMs * scale;
    if (error.code !== 'ECONNREFUSED' || delay <= 0) {
      answer(knobs.upstreamErrorStatus);
      return;
    }
    // Retrying a refused connection, as HAProxy does; the clocks still run meanwhile.
    upstreamDone = true;
    const t = hop.timers.setTimeout(() => {
      if (!finished) answer(knobs.upstreamErrorStatus);
    }, delay);
    res.once('close', () => hop.timers.clearTimeout(t));
  });

  upstreamReq.on('response', (ures) => {
    upstreamRes = ures;
    if (finished) {
      ures.destroy();
      return;
    }
    clocks.headersReceived();
    clocks.touch();
    if (clocks.deadlinePassed()) {
      // A Go-style write deadline: writing the head fails, the client gets no response.
      hop.stats.cuts['write-deadline']++;
      cut('fin');
      return;
    }
    const limit = holdLimit(knobs, ures.headers, String(req.headers['accept-encoding'] ?? ''));
    const buffer = limit === null ? null : new ResponseBuffer(limit);
    const out = forwardHeaders(ures.rawHeaders, fp.hide);
    for (const [n, v] of fp.response(ctx, clocks.elapsed())) setHeader(out, n, v);
    for (const [n, v] of Object.entries(knobs.addResponseHeaders)) setHeader(out, n, v);
    const status = ures.statusCode ?? 502;
    delivery = new Delivery({
      timers: hop.timers,
      knobs: () => hop.knobs,
      scale: () => hop.scale(),
      resetAt: pickResetPoint(hop.knobs),
      headWaitsForBody: knobs.headWaitsForBody && !optedOut(knobs, ures.headers),
      deadlinePassed: () => clocks.deadlinePassed(),
      deadlineCut: knobs.cut === 'silent' ? 'fin' : knobs.cut,
      pauseSource: () => ures.pause(),
      resumeSource: () => ures.resume(),
      sink: {
        writeHead: () => {
          if (finished) return;
          res.writeHead(status, ures.statusMessage, flatten(out));
          // Stream heads go out now, not with the first body write: SSE clients wait on them.
          res.flushHeaders();
        },
        write: (chunk, cb) => res.write(chunk, cb),
        onceDrain: (fn) => res.once('drain', fn),
        end: () => {
          cleanup();
          res.end();
        },
        cut: (how, why) => {
          if (why !== 'clock') hop.stats.cuts[why]++;
          if (why !== 'reset') {
            cut(how);
            return;
          }
          // A reset right behind the last bytes reaches a Node client as a plain EOF (libuv
          // reads the data, then reports the pending reset as end of stream): let the bytes
          // be read first so the client sees ECONNRESET, as it would across a real network.
          delivery?.destroy();
          const t = hop.timers.setTimeout(() => cut('rst'), RESET_GRACE_MS);
          res.once('close', () => hop.timers.clearTimeout(t));
        },
      },
    });
    delivery.head();
    ures.on('data', (chunk: Buffer) => {
      clocks.touch();
      hop.stats.bytesUp += chunk.length;
      const release = buffer === null ? chunk : buffer.push(chunk);
      if (release !== null) delivery!.push(release);
    });
    ures.on('end', () => {
      upstreamDone = true;
      if (finished) return;
      const rest = buffer?.end() ?? null;
      if (rest !== null) delivery!.push(rest);
      delivery!.end();
    });
    ures.on('error', () => {});
    ures.on('close', () => {
      if (finished || ures.complete) return;
      // The upstream died mid-body: a real proxy closes the client connection.
      hop.stats.upstreamErrors++;
      upstreamDone = true;
      cut('fin');
    });
  });

  res.on('close', () => {
    if (finished) return;
    // The client left (or its connection was cut) before the response completed.
    cleanup();
    abortUpstream();
  });
  req.on('error', () => {});
}
