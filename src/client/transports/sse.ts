import { createParser } from '../../wire/parser.js';
import {
  intHeader,
  statusClose,
  type Transport,
  type TransportContext,
  type TransportHandlers,
} from '../transport.js';

/** Types of the outlast control events on the SSE form (docs/protocol.md, "SSE"). */
const OPEN = 'outlast.open';
const GAP = 'outlast.gap';
const ROTATE = 'outlast.rotate';
const END = 'outlast.end';
/** Socket errors that mean a reset or a broken network, not a hop closing the stream. */
const RESET = /ECONNRESET|EPIPE|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENETDOWN/;

/**
 * SSE over a streaming `fetch`, not `EventSource`: it sends headers, sees the status of a
 * failed response (an intermediary's 504 before headers is a cause, not a silent stop), and
 * lets the connection watch every byte for stall detection.
 */
export function openSse(ctx: TransportContext, h: TransportHandlers): Transport {
  const controller = new AbortController();
  let done = false;
  const finish = (fn: () => void): void => {
    if (done) return;
    done = true;
    fn();
  };

  const parser = createParser(
    {
      onEvent(e) {
        if (done) return;
        if (e.type === OPEN) {
          const info = safeJson(e.data) as {
            heartbeatMs?: number;
            maxStreamMs?: number | null;
            resume?: string;
          };
          h.open({
            heartbeatMs: typeof info.heartbeatMs === 'number' ? info.heartbeatMs : null,
            maxStreamMs: typeof info.maxStreamMs === 'number' ? info.maxStreamMs : null,
            resume: typeof info.resume === 'string' ? info.resume : null,
          });
        } else if (e.type === GAP) {
          const g = safeJson(e.data) as Record<string, unknown>;
          h.gap({
            requested: typeof g.requested === 'string' ? g.requested : null,
            resumeFrom: typeof g.resumeFrom === 'string' ? g.resumeFrom : null,
            reason: typeof g.reason === 'string' ? g.reason : 'unknown',
          });
        } else if (e.type === ROTATE) {
          finish(() => {
            controller.abort();
            h.rotate();
          });
        } else if (e.type === END) {
          finish(() => {
            controller.abort();
            h.end();
          });
        } else {
          h.event({ id: e.id, lastEventId: e.lastEventId, type: e.type, data: e.data });
        }
      },
      onComment(text) {
        if (done) return;
        h.comment?.(text);
        // `: hb {serverUnixMs}` (docs/protocol.md); any other comment is a plain keep-alive.
        if (text.startsWith('hb ')) {
          const t = Number(text.slice(3));
          h.heartbeat(Number.isFinite(t) ? t : null);
        } else h.heartbeat(null);
      },
      onRetry: (ms) => h.retry(ms),
      // An over-long line or event is a typed, fatal error, never a silent drop: the
      // connection stops here (a reconnect would replay the same bytes).
      onError: (error) =>
        finish(() => {
          controller.abort();
          h.closed({ kind: 'limit', code: error.code, message: error.message, fatal: error });
        }),
    },
    { maxLineBytes: ctx.maxLineBytes, maxEventBytes: ctx.maxEventBytes },
  );
  parser.reset({ lastEventId: ctx.lastEventId ?? '' });

  void (async () => {
    let res: Response;
    try {
      res = await ctx.fetch(ctx.url, {
        ...(ctx.method === 'POST' ? { method: 'POST', body: ctx.body ?? null } : {}),
        headers: { accept: 'text/event-stream', ...ctx.headers },
        signal: controller.signal,
        cache: 'no-store',
      });
    } catch (error) {
      finish(() => h.closed({ kind: 'network', message: describe(error) }));
      return;
    }
    if (done) {
      void res.body?.cancel().catch(() => {});
      return;
    }
    if (res.status !== 200) {
      const info = await statusClose(res);
      finish(() => h.closed(info));
      return;
    }
    // [spec] "if res's Content-Type is not text/event-stream, fail the connection".
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'text/event-stream' || res.body === null) {
      void res.body?.cancel().catch(() => {});
      finish(() =>
        h.closed({
          kind: 'content-type',
          status: 200,
          server: res.headers.get('server'),
          message: `expected text/event-stream, got ${type || 'no content type'}`,
        }),
      );
      return;
    }
    const heartbeatMs = intHeader(res, 'outlast-heartbeat');
    h.headers({
      heartbeatMs,
      maxStreamMs: intHeader(res, 'outlast-max-stream'),
      outlast: heartbeatMs !== null,
    });
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done: eof, value } = await reader.read();
        if (done) return;
        if (eof) break;
        h.bytes(value.byteLength);
        parser.feed(value);
      }
    } catch (error) {
      // A hop that closes mid-body leaves the chunked encoding unfinished, which fetch reports
      // as an error, not as the end of the body: only a reset is a network error here.
      const message = describe(error);
      finish(() => h.closed({ kind: lostNetwork(error, message) ? 'network' : 'eof', message }));
      return;
    }
    // [spec] The body ending normally means "reestablish the connection".
    finish(() => h.closed({ kind: 'eof', clean: true, message: 'the response ended mid-stream' }));
  })();

  return {
    name: 'sse',
    close() {
      done = true;
      controller.abort();
    },
  };
}

function safeJson(text: string): object {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? v : {};
  } catch {
    return {};
  }
}

/**
 * Whether a read error is the network's: a reset, or an abort nobody here asked for (the
 * transport's own close never reaches this point): a mobile browser aborting a background
 * tab's fetch, Safari's `TypeError: Load failed`.
 */
function lostNetwork(error: unknown, message: string): boolean {
  if (RESET.test(message)) return true;
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || /^Load failed\b/.test(message);
}

/** A short text for an error: undici hides the socket error in `cause`. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const detail =
      cause instanceof Error ? `: ${(cause as { code?: string }).code ?? cause.message}` : '';
    return `${error.message}${detail}`;
  }
  return String(error);
}
