import { isOutlastError, type OutlastError } from '../errors.js';
import type { JobContext, JobFunction } from '../server/jobs.js';
import { createParser } from '../wire/parser.js';
import type { SseEvent } from '../wire/types.js';
import { encodeType } from './run-store.js';
import { classify, endToEnd, type FetchLike, upstreamError } from './upstream.js';

/** A request the gateway sends to the upstream on behalf of a run. */
export interface UpstreamRequest {
  url: string;
  method: string;
  headers: Headers;
  body: Uint8Array | null;
}

/** The upstream's answer as a job result. */
export interface UpstreamResult {
  status: number;
  headers: Record<string, string>;
  /** The body (plain answers): UTF-8 text, or base64 when `bodyEncoding` says so. */
  body?: string;
  bodyEncoding?: 'base64';
  /** Events read from an SSE answer. */
  events?: number;
}

/** What a run needs from the gateway. */
export interface RunSettings {
  fetch: FetchLike;
  maxResultBytes: number;
  maxLineBytes: number;
  maxEventBytes: number;
  upstreamHeadersTimeoutMs: number | null;
  upstreamIdleTimeoutMs: number | null;
}

/** Is this a `text/event-stream` answer? */
export function isEventStream(res: Response): boolean {
  const type = res.headers.get('content-type') ?? '';
  return type.split(';')[0]!.trim().toLowerCase() === 'text/event-stream';
}

function headerRecord(headers: Headers): Record<string, string> {
  // Decoded by fetch: the length and encoding no longer describe the bytes kept.
  return Object.fromEntries(endToEnd(headers, ['content-encoding', 'content-length']));
}

function text(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** Reads a body with an idle limit; `onChunk` may await (backpressure onto the upstream). */
async function pump(
  body: ReadableStream<Uint8Array>,
  idleMs: number | null,
  abort: (reason: unknown) => void,
  onChunk: (chunk: Uint8Array) => Promise<void> | void,
): Promise<void> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      if (idleMs !== null) {
        timer = setTimeout(
          () =>
            abort(
              upstreamError(
                'upstream-timeout',
                `the upstream sent nothing for ${idleMs} ms (upstreamIdleTimeoutMs)`,
              ),
            ),
          idleMs,
        );
      }
      const { done, value } = await reader.read();
      clearTimeout(timer);
      if (done) return;
      await onChunk(value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/**
 * The job function of one upstream run: sends the request (or takes an answer already
 * received), then reads the answer to its end. An SSE answer's events become the run's
 * events (type, data and id kept); any other answer becomes the result. 5xx, refused, reset,
 * silent and oversized answers fail the run with a typed code and the upstream's status.
 *
 * The run never ends because a client left: only the job's signal (DELETE, shutdown) aborts it.
 */
export function upstreamRun(
  settings: RunSettings,
  request: UpstreamRequest,
  target: string,
  options: {
    answered?: { response: Response; abort: AbortController };
    announce?: (id: string) => Promise<void>;
  } = {},
): JobFunction<unknown, UpstreamResult> {
  return async (ctx: JobContext) => {
    const controller = options.answered?.abort ?? new AbortController();
    let timeoutError: unknown = null;
    const abort = (reason: unknown) => {
      timeoutError = reason;
      controller.abort(reason);
    };
    const onCancel = () => controller.abort(ctx.signal.reason);
    if (ctx.signal.aborted) onCancel();
    ctx.signal.addEventListener('abort', onCancel, { once: true });
    try {
      await options.announce?.(ctx.id);
      let res = options.answered?.response;
      if (res === undefined) {
        const limit = settings.upstreamHeadersTimeoutMs;
        const timer =
          limit === null
            ? undefined
            : setTimeout(
                () =>
                  abort(
                    upstreamError(
                      'upstream-timeout',
                      `the upstream did not answer within ${limit} ms (upstreamHeadersTimeoutMs)`,
                    ),
                  ),
                limit,
              );
        try {
          res = await settings.fetch(request.url, {
            method: request.method,
            headers: request.headers,
            body: request.body as BodyInit | null,
            signal: controller.signal,
            redirect: 'manual',
          });
        } catch (error) {
          throw timeoutError ?? (ctx.signal.aborted ? error : classify(error, 'connect', target));
        } finally {
          clearTimeout(timer);
        }
      }
      const status = res.status;
      const headers = headerRecord(res.headers);
      const failed = status >= 500;
      if (isEventStream(res) && !failed && res.body !== null) {
        const events = await readEvents(res.body, settings, ctx, abort);
        return { status, headers, events };
      }
      const body = await readBody(res, settings, abort);
      const decoded = text(body);
      const result: UpstreamResult = { status, headers };
      if (decoded !== null) result.body = decoded;
      else {
        result.body = Buffer.from(body).toString('base64');
        result.bodyEncoding = 'base64';
      }
      if (failed) {
        throw upstreamError('upstream-status', `the upstream answered ${status}`, {
          status,
          headers,
          body: result.body.slice(0, 4096),
        });
      }
      return result;
    } catch (error) {
      if (timeoutError !== null) throw timeoutError;
      // The gateway's own failures (the store refusing an event) are not the upstream's.
      if (ctx.signal.aborted || isOutlastError(error)) throw error;
      throw classify(error, 'body', target);
    } finally {
      ctx.signal.removeEventListener('abort', onCancel);
      if (!controller.signal.aborted) controller.abort();
    }
  };
}

async function readBody(
  res: Response,
  settings: RunSettings,
  abort: (reason: unknown) => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body !== null) {
    await pump(res.body, settings.upstreamIdleTimeoutMs, abort, (chunk) => {
      size += chunk.byteLength;
      if (size > settings.maxResultBytes) {
        throw upstreamError(
          'upstream-too-large',
          `the upstream's answer is larger than ${settings.maxResultBytes} bytes (maxResultBytes)`,
          { status: res.status },
        );
      }
      chunks.push(chunk);
    });
  }
  return Buffer.concat(chunks);
}

async function readEvents(
  body: ReadableStream<Uint8Array>,
  settings: RunSettings,
  ctx: JobContext,
  abort: (reason: unknown) => void,
): Promise<number> {
  let batch: SseEvent[] = [];
  let limitError: OutlastError | null = null;
  const parser = createParser(
    {
      onEvent: (event) => batch.push(event),
      onError: (error) => {
        limitError ??= error;
      },
    },
    { maxLineBytes: settings.maxLineBytes, maxEventBytes: settings.maxEventBytes },
  );
  let count = 0;
  await pump(body, settings.upstreamIdleTimeoutMs, abort, async (chunk) => {
    parser.feed(chunk);
    const events = batch;
    batch = [];
    // One append at a time, in order: a slow store slows the read of the upstream down.
    for (const event of events) {
      await ctx.progress(event.data, encodeType(event.type, event.id));
      count++;
    }
    if (limitError !== null) {
      throw upstreamError(
        'upstream-too-large',
        `the upstream sent a line or event past the gateway's limit (${limitError.code}: maxLineBytes ${settings.maxLineBytes}, maxEventBytes ${settings.maxEventBytes}); the run stops rather than drop it`,
        { events: count },
      );
    }
  });
  return count;
}
