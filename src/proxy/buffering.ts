import type { IncomingHttpHeaders } from 'node:http';
import type { HopKnobs } from './knobs.js';

type BufferKnobs = Pick<
  HopKnobs,
  'bufferBytes' | 'holdWhole' | 'bufferTypes' | 'bufferOptOut' | 'bufferNeedsGzip'
>;

/**
 * How many response bytes the hop holds before releasing them, for one response:
 * `Infinity` holds the whole response, `null` streams it.
 */
export function holdLimit(
  knobs: BufferKnobs,
  headers: IncomingHttpHeaders,
  acceptEncoding = 'gzip',
): number | null {
  if (!knobs.holdWhole && knobs.bufferBytes === null) return null;
  if (knobs.bufferNeedsGzip && !/\bgzip\b/i.test(acceptEncoding)) return null;
  if (knobs.bufferTypes !== null) {
    const type = String(headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!knobs.bufferTypes.some((t) => t.toLowerCase() === type)) return null;
  }
  if (optedOut(knobs, headers)) return null;
  return knobs.holdWhole ? Number.POSITIVE_INFINITY : knobs.bufferBytes;
}

/** Whether the response carries one of the `bufferOptOut` headers. */
export function optedOut(
  knobs: Pick<HopKnobs, 'bufferOptOut'>,
  headers: IncomingHttpHeaders,
): boolean {
  for (const optOut of knobs.bufferOptOut) {
    // [nginx docs, proxy_buffering] "Buffering can also be enabled or disabled by passing
    // 'yes' or 'no' in the X-Accel-Buffering response header field."
    if (optOut === 'x-accel-buffering') {
      if (String(headers['x-accel-buffering'] ?? '').toLowerCase() === 'no') return true;
    } else if (/(^|,)\s*no-transform\s*(,|$)/i.test(String(headers['cache-control'] ?? ''))) {
      return true;
    }
  }
  return false;
}

/**
 * Holds response bytes until `limit` of them are held, then releases them all at once; the
 * rest is released at the end of the response.
 */
export class ResponseBuffer {
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(private readonly limit: number) {}

  /** Adds a chunk; returns what to release now (possibly nothing). */
  push(chunk: Buffer): Buffer | null {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes < this.limit) return null;
    return this.drain();
  }

  /** The response ended: everything still held. */
  end(): Buffer | null {
    return this.heldBytes === 0 ? null : this.drain();
  }

  /** Bytes held right now. */
  get size(): number {
    return this.heldBytes;
  }

  private drain(): Buffer {
    const out = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    return out;
  }
}
