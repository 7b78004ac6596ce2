import type { ExperimentRecord, Symptom } from './types.js';

/** The limits read off the experiments, with notes on what could not be seen. */
export interface Limits {
  sse: { idleMs: number | null; totalMs: number | null; firstByteMs: number | null };
  websocket: { idleMs: number | null; totalMs: number | null };
  notes: string[];
}

const fmt = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s` : `${Math.round(ms)} ms`;

/**
 * How long the path let a record live, or null when the path did not cut it. The hops'
 * clocks start when the request reaches them, not when the probe opened it: after the
 * headers, from when the server started the response, placed on the probe's clock by the
 * server's time stamps (`open` plus the smallest arrival-minus-stamp over the stream): free of
 * the forward latency, which a busy machine makes large, and of any clock skew. Without
 * stamps, the midpoint between opening and headers. Before the headers: the time of the
 * error status minus one warm round trip of the path.
 */
export function cutAt(
  r: ExperimentRecord | undefined,
  rttMs = 0,
  kind: 'idle' | 'total' = 'idle',
  pathOffsetMs: number | null = null,
): number | null {
  if (r === undefined || r.outcome !== 'cut') return null;
  if (r.symptom === 'websocket-refused' || r.endedAtMs === null) return null;
  if (r.symptom === 'status-before-headers' || r.headersAtMs === null) {
    return Math.max(0, (r.headersAtMs ?? r.endedAtMs) - rttMs);
  }
  if (r.serverOpenAt !== undefined && r.minOffsetMs !== undefined) {
    // The offset is best taken over the whole probe (one server clock, one path): a hop that
    // corks or delays one stream's first bytes (HAProxy's 200 ms) does not delay them all.
    const offset =
      pathOffsetMs === null ? r.minOffsetMs : Math.min(r.minOffsetMs, pathOffsetMs - r.openedAtMs);
    const serverOpen = Math.min(r.headersAtMs, Math.max(0, r.serverOpenAt + offset));
    // An idle clock restarts with the last byte: the server's first write. A total clock
    // started when the request reached the hop: somewhere between the opening and the
    // server's start; the midpoint halves the error of either end.
    return r.endedAtMs - (kind === 'idle' ? serverOpen : serverOpen / 2);
  }
  return r.endedAtMs - r.headersAtMs / 2;
}

/** Two cut times that are the same clock: within 8 % or 100 ms. */
export function sameClock(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(100, 0.08 * Math.max(a, b));
}

/** Idle and total from a silent stream and a chatty one of the same transport. */
function idleAndTotal(
  label: string,
  silent: ExperimentRecord | undefined,
  chatty: ExperimentRecord | undefined,
  maxWaitMs: number,
  notes: string[],
  pathOffset: number | null,
): { idleMs: number | null; totalMs: number | null } {
  const s = cutAt(silent, 0, 'idle', pathOffset);
  let c = cutAt(chatty, 0, 'total', pathOffset);
  // A chatty stream whose bytes had stopped long before its cut (a stalled sender, a paused
  // machine) died of the idle clock, not of a total one: that cut proves nothing.
  const lastByte = chatty?.bytes[chatty.bytes.length - 1]?.[0];
  if (c !== null && s !== null && chatty?.endedAtMs != null && lastByte !== undefined) {
    if (chatty.endedAtMs - lastByte >= 0.8 * s) {
      notes.push(`${label} total clock: the chatty stream stalled before its cut; not counted`);
      c = null;
    }
  }
  if (c !== null) {
    // Compared the same way: did the silent stream die of the same clock as the chatty one?
    const sAsTotal = cutAt(silent, 0, 'total', pathOffset);
    if (s !== null && sAsTotal !== null && !sameClock(sAsTotal, c) && s < c) {
      return { idleMs: s, totalMs: c };
    }
    if (s !== null) {
      notes.push(
        `${label} idle clock: not measurable, the total clock cuts every ${label} stream at ${fmt(c)} first`,
      );
    } else notes.push(`${label} idle clock: not reached up to ${fmt(maxWaitMs)}`);
    return { idleMs: null, totalMs: c };
  }
  notes.push(
    `${label} total clock: not reached up to ${fmt(maxWaitMs)} (a stream with traffic lived that long)`,
  );
  if (s === null) notes.push(`${label} idle clock: not reached up to ${fmt(maxWaitMs)}`);
  return { idleMs: s, totalMs: null };
}

/** The marker ladder's verdict: a bracket where markers start to be lost, or null. */
export function ladderBracket(
  records: readonly ExperimentRecord[],
): { lo: number; hi: number; symptom: Symptom } | null {
  const rungs = records
    .filter(
      (r) => r.markerDueMs !== undefined && r.outcome !== 'running' && r.outcome !== 'not-reached',
    )
    .sort((a, b) => a.markerDueMs! - b.markerDueMs!);
  // A silent drop loses every marker past it; one late marker on a busy machine is not one.
  let lo = 0;
  for (let i = 0; i < rungs.length; i++) {
    const r = rungs[i]!;
    if (r.markerArrived === true) {
      lo = Math.max(lo, r.markerDueMs!);
      continue;
    }
    const lost = (x: ExperimentRecord): boolean =>
      x.markerArrived !== true &&
      (x.symptom === 'marker-lost' || x.symptom === 'cut-on-write' || x.outcome === 'cut');
    if (
      (r.symptom === 'marker-lost' || r.symptom === 'cut-on-write') &&
      rungs.slice(i).every(lost)
    ) {
      if (r.markerDueMs! > lo) return { lo, hi: r.markerDueMs!, symptom: r.symptom };
    }
  }
  return null;
}

/**
 * Reads the limits off the experiments: a silent stream cut first is an idle clock; a
 * chatty stream cut despite its heartbeats is a total clock (and hides any idle clock when
 * the silent one dies at the same moment); a hold answered with an error status is the
 * first-byte limit; markers lost after a silence that no active cut explains are a silent
 * drop, bracketed by the ladder.
 */
export function readLimits(
  records: readonly ExperimentRecord[],
  maxWaitMs: number,
  rttMs = 0,
): Limits {
  const by = (name: string): ExperimentRecord | undefined => records.find((r) => r.name === name);
  const notes: string[] = [];
  // Probe clock minus server clock, the smallest seen on any stream of this path.
  let pathOffset: number | null = null;
  for (const r of records) {
    if (r.minOffsetMs !== undefined) {
      const o = r.openedAtMs + r.minOffsetMs;
      pathOffset = pathOffset === null ? o : Math.min(pathOffset, o);
    }
  }
  const fb = by('first-byte');
  let firstByteMs = cutAt(fb, rttMs);
  if (fb !== undefined && firstByteMs === null) {
    notes.push(
      `first-byte limit: not reached up to ${fmt(maxWaitMs)} (a response without headers waited that long)`,
    );
  }
  const sse = idleAndTotal('SSE', by('sse-idle'), by('sse-total'), maxWaitMs, notes, pathOffset);
  const wsRefused = by('ws-idle')?.symptom === 'websocket-refused';
  const ws = wsRefused
    ? { idleMs: null, totalMs: null }
    : by('ws-idle') === undefined
      ? { idleMs: null, totalMs: null }
      : idleAndTotal('WebSocket', by('ws-idle'), by('ws-total'), maxWaitMs, notes, pathOffset);
  if (wsRefused) {
    notes.push(`WebSocket: refused by the path (status ${by('ws-idle')?.status ?? '?'})`);
  }
  const bracket = ladderBracket(records);
  if (bracket !== null) {
    const explained =
      (sse.idleMs !== null && sse.idleMs <= bracket.hi) ||
      (sse.totalMs !== null && sse.totalMs <= bracket.hi * 1.05);
    if (!explained) {
      const mid = Math.round((bracket.lo + bracket.hi) / 2);
      if (bracket.symptom === 'marker-lost') {
        sse.idleMs = mid;
        notes.push(
          `SSE silent drop: after ${fmt(bracket.lo)} of silence markers still arrived, after ${fmt(bracket.hi)} they were lost without any close (NAT or L4 balancer); idle limit about ${fmt(mid)}`,
        );
      } else {
        notes.push(
          `SSE write deadline: streams silent past ${fmt(bracket.lo)}-${fmt(bracket.hi)} die on their next write (a total clock that only shows on the next send)`,
        );
        sse.totalMs ??= mid;
      }
    }
  }
  // A first-byte limit equal to the total clock is that clock seen before headers.
  if (firstByteMs !== null && fb?.outcome !== 'cut') firstByteMs = null;
  return { sse: { ...sse, firstByteMs }, websocket: ws, notes };
}
