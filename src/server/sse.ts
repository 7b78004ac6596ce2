import type { EndReason } from '../metrics/types.js';
import type { GapInfo, StoredEvent } from '../store/types.js';
import {
  type OpenInfo,
  SSE_END,
  SSE_ROTATE,
  sseEvent,
  sseGap,
  sseHeartbeat,
  sseOpen,
} from './frames.js';
import type { ByteSink } from './http.js';
import type { Transport } from './session.js';

/** Response headers of an SSE stream (docs/protocol.md, "SSE"). */
export function sseHeaders(
  heartbeatMs: number,
  maxStreamMs: number | null,
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'text/event-stream; charset=utf-8',
    // no-transform: compression middleware and proxies must not buffer or rewrite the body.
    'cache-control': 'no-cache, no-transform',
    // nginx (and ingress-nginx) turn off proxy buffering for this response.
    'x-accel-buffering': 'no',
    'outlast-heartbeat': String(heartbeatMs),
  };
  if (maxStreamMs !== null) headers['outlast-max-stream'] = String(maxStreamMs);
  return headers;
}

/** SSE framing over any {@link ByteSink}. */
export class SseTransport implements Transport {
  readonly name = 'sse' as const;

  constructor(
    private readonly sink: ByteSink,
    private readonly retryMs: number,
  ) {}

  open(info: OpenInfo): void {
    this.sink.write(sseOpen(info, this.retryMs));
  }

  gap(gap: GapInfo): void {
    this.sink.write(sseGap(gap));
  }

  event(event: StoredEvent): void {
    this.sink.write(sseEvent(event));
  }

  heartbeat(now: number): void {
    this.sink.write(sseHeartbeat(now));
  }

  rotate(): void {
    this.sink.write(SSE_ROTATE);
    this.sink.end();
  }

  end(): void {
    this.sink.write(SSE_END);
    this.sink.end();
  }

  abort(reason: EndReason): void {
    // A slow reader is cut hard (its queued bytes are the problem); anything else ends the
    // body cleanly, which makes EventSource reconnect and resume.
    if (reason === 'backpressure') this.sink.destroy();
    else this.sink.end();
  }

  buffered(): number {
    return this.sink.buffered();
  }

  drain(): Promise<void> {
    return this.sink.drain();
  }
}
