import {
  eventTooLarge,
  type Transport,
  type TransportContext,
  type TransportHandlers,
} from '../transport.js';
import { describe } from './sse.js';

/**
 * WebSocket with the JSON frames of docs/protocol.md. The resume position always goes in the
 * `lastEventId` query (even empty), so the server never waits for a hello frame; browsers
 * cannot send headers on a WebSocket, so the user's headers reach only Node sockets (`ws`).
 */
export function openWebSocket(ctx: TransportContext, h: TransportHandlers): Transport {
  const Ws = ctx.WebSocket;
  let done = false;
  let opened = false;
  let errored: string | null = null;
  const finish = (fn: () => void): void => {
    if (done) return;
    done = true;
    fn();
  };
  const stop = (): void => {
    done = true;
  };
  if (Ws === null) {
    queueMicrotask(() =>
      finish(() => h.closed({ kind: 'refused', message: 'no WebSocket implementation' })),
    );
    return { name: 'ws', close: stop };
  }
  const url = ctx.url.replace(/^http/, 'ws');
  let ws: InstanceType<typeof Ws>;
  try {
    ws = new Ws(url, [], { headers: ctx.headers });
  } catch (error) {
    queueMicrotask(() => finish(() => h.closed({ kind: 'refused', message: describe(error) })));
    return { name: 'ws', close: stop };
  }
  ws.onopen = () => {
    if (done) return;
    opened = true;
    h.headers({ heartbeatMs: null, maxStreamMs: null, outlast: true });
  };
  ws.onerror = (event) => {
    const e = (event as { error?: unknown; message?: string }) ?? {};
    errored = e.error !== undefined ? describe(e.error) : (e.message ?? 'WebSocket error');
  };
  ws.onmessage = (event) => {
    if (done) return;
    const text = typeof event.data === 'string' ? event.data : String(event.data);
    h.bytes(text.length);
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    switch (m.type) {
      case 'open':
        h.open({
          heartbeatMs: typeof m.heartbeatMs === 'number' ? m.heartbeatMs : null,
          maxStreamMs: typeof m.maxStreamMs === 'number' ? m.maxStreamMs : null,
          resume: typeof m.resume === 'string' ? m.resume : null,
        });
        break;
      case 'gap':
        h.gap({
          requested: typeof m.requested === 'string' ? m.requested : null,
          resumeFrom: typeof m.resumeFrom === 'string' ? m.resumeFrom : null,
          reason: typeof m.reason === 'string' ? m.reason : 'unknown',
        });
        break;
      case 'event': {
        const id = typeof m.id === 'string' ? m.id : undefined;
        const data = typeof m.data === 'string' ? m.data : JSON.stringify(m.data ?? null);
        const tooLarge = eventTooLarge(data, ctx.maxEventBytes);
        if (tooLarge !== null) {
          finish(() => {
            ws.close(1000);
            h.closed(tooLarge);
          });
          break;
        }
        h.event({
          id,
          lastEventId: id ?? '',
          type: typeof m.event === 'string' ? m.event : 'message',
          data,
        });
        break;
      }
      case 'heartbeat':
        h.comment?.(typeof m.t === 'number' ? `hb ${m.t}` : 'hb');
        h.heartbeat(typeof m.t === 'number' ? m.t : null);
        break;
      case 'rotate':
        finish(() => {
          ws.close(1000);
          h.rotate();
        });
        break;
      case 'end':
        finish(() => {
          ws.close(1000);
          h.end();
        });
        break;
      case 'error':
        finish(() => {
          ws.close(1000);
          h.closed({
            kind: 'server-error',
            code: typeof m.code === 'string' ? m.code : null,
            message: typeof m.message === 'string' ? m.message : 'server error frame',
          });
        });
        break;
    }
  };
  ws.onclose = (event) => {
    finish(() => {
      if (!opened) {
        // `ws` says "Unexpected server response: 403"; browsers say nothing.
        const status = /\b(\d{3})\b/.exec(errored ?? '')?.[1];
        h.closed({
          kind: 'refused',
          ...(status !== undefined ? { status: Number(status) } : {}),
          message:
            status !== undefined && Number(status) < 400
              ? `the WebSocket upgrade was answered HTTP ${status} instead of 101 Switching Protocols: the server took it for a plain request (nothing routes WebSocket upgrades at this URL; on Node, attachWebSocket(outlast, server))`
              : (errored ?? `WebSocket closed before opening (${event.code})`),
        });
      } else {
        h.closed({
          kind: errored !== null ? 'network' : 'eof',
          message:
            errored ?? `WebSocket closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`,
        });
      }
    });
  };
  return {
    name: 'ws',
    close() {
      if (done) return;
      done = true;
      try {
        ws.close(1000);
      } catch {
        // Closing a socket that is still connecting throws in some runtimes.
      }
    },
  };
}
