import type { ExperimentRecord } from './types.js';

/** A fresh record for an experiment opening now. */
export function newRecord(
  name: string,
  transport: ExperimentRecord['transport'],
  purpose: string,
  openedAtMs: number,
): ExperimentRecord {
  return {
    name,
    transport,
    purpose,
    openedAtMs,
    headersAtMs: null,
    endedAtMs: null,
    status: null,
    outcome: 'running',
    symptom: null,
    detail: null,
    bytes: [],
    responseHeaders: {},
    errorBody: null,
  };
}

/** Records a byte arrival, merging arrivals less than 1 ms apart (the timeline's resolution). */
export function addBytes(record: ExperimentRecord, atMs: number, n: number): void {
  const last = record.bytes[record.bytes.length - 1];
  if (last !== undefined && atMs - last[0] < 1) last[1] += n;
  else if (record.bytes.length < 2000) record.bytes.push([round(atMs), n]);
  else if (last !== undefined) last[1] += n;
}

/** Milliseconds rounded to 0.1. */
export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Flattens a header map to lower-case single strings. */
export function flatHeaders(
  headers: Headers | Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((v, k) => {
      out[k.toLowerCase()] = v;
    });
    return out;
  }
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Notes a server time stamp seen at `atMs` (ms since opened); `open` marks the start. */
export function stamp(record: ExperimentRecord, atMs: number, t: number, open: boolean): void {
  if (!Number.isFinite(t)) return;
  if (open && record.serverOpenAt === undefined) record.serverOpenAt = t;
  const offset = atMs - t;
  if (record.minOffsetMs === undefined || offset < record.minOffsetMs) record.minOffsetMs = offset;
}
