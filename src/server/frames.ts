import type { GapInfo, ResumeOutcome, StoredEvent } from '../store/types.js';
import { formatEvent } from '../wire/encoder.js';

/*
 * The bytes and frames of docs/protocol.md, for SSE and WebSocket. A user event is encoded
 * once however many connections carry it (fan-out): the encoded form is cached per event
 * object, which every subscriber of a store receives by reference.
 */

const utf8 = new TextEncoder();
const sseCache = new WeakMap<StoredEvent, Uint8Array>();
const wsCache = new WeakMap<StoredEvent, Uint8Array>();

/** The `outlast.open` payload. */
export interface OpenInfo {
  heartbeatMs: number;
  maxStreamMs: number | null;
  resume: ResumeOutcome;
}

/** SSE: the first bytes of a response: a comment, the `retry:` hint and `outlast.open`. */
export function sseOpen(info: OpenInfo, retryMs: number): Uint8Array {
  return utf8.encode(
    `: outlast\nretry: ${retryMs}\nevent: outlast.open\ndata: ${JSON.stringify(info)}\n\n`,
  );
}

/** SSE: the `outlast.gap` notice. */
export function sseGap(gap: GapInfo): Uint8Array {
  return utf8.encode(`event: outlast.gap\ndata: ${JSON.stringify(gap)}\n\n`);
}

/** SSE: one stored event (`event:` omitted for `message`), encoded once per event. */
export function sseEvent(event: StoredEvent): Uint8Array {
  let bytes = sseCache.get(event);
  if (bytes === undefined) {
    bytes = utf8.encode(
      formatEvent({
        id: event.id,
        event: event.event === 'message' ? undefined : event.event,
        data: event.data,
      }),
    );
    sseCache.set(event, bytes);
  }
  return bytes;
}

/** SSE: a heartbeat comment carrying the server clock (lets a client see buffering). */
export function sseHeartbeat(now: number): Uint8Array {
  // Every connection due in one wheel tick gets the same timestamp: encode it once.
  if (now !== lastBeatAt) {
    lastBeatAt = now;
    lastBeat = utf8.encode(`: hb ${now}\n`);
  }
  return lastBeat;
}
let lastBeatAt = -1;
let lastBeat = new Uint8Array(0);

/** SSE: rotation notice; the response ends right after it. */
export const SSE_ROTATE = utf8.encode('event: outlast.rotate\ndata: {"reconnectMs":0}\n\n');
/** SSE: end of stream; the response ends right after it. */
export const SSE_END = utf8.encode('event: outlast.end\ndata: {}\n\n');

/** WebSocket: the open frame. */
export function wsOpen(info: OpenInfo): string {
  return JSON.stringify({ type: 'open', ...info });
}

/** WebSocket: the gap frame. */
export function wsGap(gap: GapInfo): string {
  return JSON.stringify({ type: 'gap', ...gap });
}

/** WebSocket: one stored event, serialised and UTF-8 encoded once per event. */
export function wsEvent(event: StoredEvent): Uint8Array {
  let bytes = wsCache.get(event);
  if (bytes === undefined) {
    bytes = utf8.encode(
      JSON.stringify({ type: 'event', id: event.id, event: event.event, data: event.data }),
    );
    wsCache.set(event, bytes);
  }
  return bytes;
}

/** WebSocket: a heartbeat frame, encoded once per wheel tick. */
export function wsHeartbeat(now: number): Uint8Array {
  if (now !== lastWsBeatAt) {
    lastWsBeatAt = now;
    lastWsBeat = utf8.encode(`{"type":"heartbeat","t":${now}}`);
  }
  return lastWsBeat;
}
let lastWsBeatAt = -1;
let lastWsBeat = new Uint8Array(0);

/** WebSocket: rotation frame; the socket closes with 1000 right after it. */
export const WS_ROTATE = '{"type":"rotate","reconnectMs":0}';
/** WebSocket: end frame; the socket closes with 1000 right after it. */
export const WS_END = '{"type":"end"}';

/** WebSocket: an error frame. */
export function wsError(code: string, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}
