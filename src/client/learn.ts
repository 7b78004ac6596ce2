import type { CutReport } from './causes.js';
import { type PathProfile, stampLesson } from './profile.js';
import type { TransportName } from './transport.js';

/** What one lesson changed. */
export interface Lesson {
  /** Which rule fired. */
  rule: 'idle-clock' | 'total-clock' | 'buffering' | 'refused';
  /** The transport to use from now on, when the lesson says to move. */
  switchTo: TransportName | null;
  /** One sentence: what was seen and what changes. */
  note: string;
}

/** Tunables of the rules (docs/client.md, "Learning"). */
export interface LearnSettings {
  /** Transports in order of preference. */
  order: readonly TransportName[];
  /** Heartbeat = this fraction of a learned idle clock ("at most half", with margin). */
  heartbeatFraction: number;
  /** maxStream = this fraction of a learned total clock. */
  rotateFraction: number;
  /** Two cuts "at the same time" are within this fraction of each other. */
  tolerance: number;
}

/** Default tunables. */
export const learnDefaults = {
  heartbeatFraction: 0.45,
  rotateFraction: 0.8,
  tolerance: 0.1,
} as const;

/** Shorter silences are noise (scheduling, latency), not a clock. */
const MIN_SILENCE_MS = 10;
const MAX_NOTES = 20;
/** Statuses intermediaries answer when one of their clocks fires before headers. */
const TIMEOUT_STATUS = new Set([408, 502, 503, 504, 524]);

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(a, b);

/** Cuts a clock (not the server, not us) made on an open connection. */
function isClockCut(c: CutReport): boolean {
  return c.opened && (c.cause === 'mid-stream-eof' || c.cause === 'network-error');
}

/**
 * A clock cut that measures a total clock: traffic came, and the request rode a connection of
 * its own (on a kept-alive one an earlier response left, a clock counting the connection's age
 * started before the request: its age at the cut is unknown).
 */
function isTotalEvidence(c: CutReport): boolean {
  return isClockCut(c) && c.heartbeats + c.events > 0 && c.reusedConnection !== true;
}

/** The first usable transport after `current` in `order` (wrapping), or `null`. */
export function nextTransport(
  order: readonly TransportName[],
  current: TransportName,
  avoid: PathProfile['avoid'],
): TransportName | null {
  const i = order.indexOf(current);
  for (let k = 1; k <= order.length; k++) {
    const t = order[(i + k) % order.length]!;
    if (t !== current && avoid[t] === undefined) return t;
  }
  return null;
}

/** The transport to start with on this path. */
export function startTransport(
  order: readonly TransportName[],
  profile: PathProfile | null,
): TransportName {
  const first = order[0] ?? 'sse';
  if (profile === null) return first;
  if (
    profile.transport !== null &&
    order.includes(profile.transport) &&
    profile.avoid[profile.transport] === undefined
  ) {
    return profile.transport;
  }
  return order.find((t) => profile.avoid[t] === undefined) ?? first;
}

function note(profile: PathProfile, text: string, now: number): void {
  profile.notes.push(text);
  if (profile.notes.length > MAX_NOTES) profile.notes.splice(0, profile.notes.length - MAX_NOTES);
  profile.updatedAt = now;
}

/** Marks a transport unusable on this path and moves to the next one. */
export function avoidTransport(
  profile: PathProfile,
  transport: TransportName,
  why: 'refused' | 'buffering',
  order: readonly TransportName[],
  detail: string,
  now: number,
): Lesson {
  profile.avoid[transport] = why;
  stampLesson(profile, `avoid.${transport}`, now);
  const to = nextTransport(order, transport, profile.avoid);
  profile.transport = to;
  if (to === null) delete profile.learnedAt.transport;
  else stampLesson(profile, 'transport', now);
  const rule = why === 'refused' ? 'refused' : 'buffering';
  const text = `${rule}: ${detail}; ${transport} avoided on this path${to === null ? '' : `, moving to ${to}`}`;
  note(profile, text, now);
  return { rule, switchTo: to, note: text };
}

/**
 * Learns from one lost connection, given the earlier cuts of this path (newest last).
 * Mutates `profile` and returns the lessons (none when the cut teaches nothing).
 *
 * Rules (docs/client.md, "Learning"):
 * 1. a transport that cannot open (WebSocket refused): avoid it, next in order;
 * 2. a stall on an SSE response whose headers came but no body byte ever did: buffering;
 *    avoid SSE, next in order (WebSocket or long-polling);
 * 3. two cuts of traffic-carrying connections at the same age (within 10 %): a total-duration
 *    clock; move to a transport that already lived longer on this path, else rotate before
 *    it (`maxStream` = 80 % of it). A request that may have ridden a kept-alive connection
 *    (after a rotation) is no evidence: a clock counting connections is older than it;
 * 4. a cut after silence (nothing since the open, a held long-poll answered with a timeout,
 *    or two cuts after the same silence): an idle clock; ask for a heartbeat of 45 % of it.
 *    Two cuts at the same age after the same silence are taken as idle first (periodic
 *    traffic), total once the heartbeat changed and they go on.
 */
export function learnFromCut(
  profile: PathProfile,
  cut: CutReport,
  history: readonly CutReport[],
  s: LearnSettings,
  now: number,
): Lesson[] {
  const t = cut.transport;
  if (cut.opened || cut.cause === 'server-rotation') {
    profile.livedMs[t] = Math.max(profile.livedMs[t] ?? 0, Math.round(cut.sinceRequestMs));
  }
  if (cut.cause === 'server-rotation' || cut.cause === 'client-abort') return [];

  // Rule 1: a WebSocket that never opened (upgrade refused, or no WebSocket at all).
  if (t === 'ws' && !cut.opened) {
    if (profile.avoid.ws !== undefined) return [];
    const detail = `WebSocket could not open${cut.status !== undefined ? ` (HTTP ${cut.status})` : ''}`;
    return [avoidTransport(profile, t, 'refused', s.order, detail, now)];
  }

  // Rule 2: headers, then nothing: a hop holds the stream.
  if (cut.cause === 'stall' && cut.opened && t === 'sse' && cut.bytes === 0) {
    if (profile.avoid.sse !== undefined) return [];
    return [
      avoidTransport(profile, t, 'buffering', s.order, 'SSE headers came, no body byte', now),
    ];
  }

  const lessons: Lesson[] = [];
  const same = history.filter((c) => c.transport === t);

  // Rule 3: total-duration clock.
  if (isTotalEvidence(cut)) {
    const twin = same.find(
      (c) =>
        c !== cut && isTotalEvidence(c) && near(c.sinceRequestMs, cut.sinceRequestMs, s.tolerance),
    );
    // Periodic traffic makes an idle clock cut at the same age too; the same silence before
    // both cuts says idle first (cheap: a shorter heartbeat). If cuts keep coming at that age
    // once the heartbeat changed, the silences differ and this rule fires.
    const idleFirst =
      twin !== undefined &&
      near(twin.sinceLastByteMs, cut.sinceLastByteMs, s.tolerance) &&
      Math.floor(Math.min(twin.sinceLastByteMs, cut.sinceLastByteMs) * s.heartbeatFraction) <
        (profile.heartbeatMs ?? cut.heartbeatMs ?? Number.POSITIVE_INFINITY);
    if (twin !== undefined && !idleFirst) {
      const total = Math.round(Math.min(twin.sinceRequestMs, cut.sinceRequestMs));
      const known = profile.totalMs[t];
      if (known === undefined || total < known * (1 - s.tolerance / 2)) {
        profile.totalMs[t] = total;
        stampLesson(profile, `total.${t}`, now);
        const longer = s.order.find(
          (u) =>
            u !== t && profile.avoid[u] === undefined && (profile.livedMs[u] ?? 0) > total * 1.1,
        );
        let text: string;
        if (longer !== undefined) {
          profile.transport = longer;
          stampLesson(profile, 'transport', now);
          text = `total clock: ${t} cut twice at ~${total} ms despite traffic; ${longer} lived ${profile.livedMs[longer]} ms here, moving to it`;
        } else {
          const rotate = Math.max(1, Math.floor(total * s.rotateFraction));
          profile.maxStreamMs[t] = Math.min(profile.maxStreamMs[t] ?? rotate, rotate);
          text = `total clock: ${t} cut twice at ~${total} ms despite traffic; rotating every ${profile.maxStreamMs[t]} ms`;
        }
        note(profile, text, now);
        lessons.push({ rule: 'total-clock', switchTo: longer ?? null, note: text });
        return lessons;
      }
    }
  }

  // Rule 4: idle clock.
  const silence = cut.opened ? cut.sinceLastByteMs : cut.sinceRequestMs;
  let idle: number | null = null;
  if (silence >= MIN_SILENCE_MS) {
    const quietFromStart = cut.heartbeats + cut.events === 0;
    // A held long-poll answered by a hop's timeout status: the hold outlived a clock.
    const heldPoll =
      t === 'poll' && cut.cause === 'intermediary-error' && TIMEOUT_STATUS.has(cut.status ?? 0);
    if ((isClockCut(cut) && quietFromStart) || heldPoll) idle = silence;
    else if (isClockCut(cut)) {
      const twin = same.find(
        (c) => c !== cut && isClockCut(c) && near(c.sinceLastByteMs, silence, s.tolerance),
      );
      if (twin !== undefined) idle = Math.min(silence, twin.sinceLastByteMs);
    }
  }
  if (idle !== null) {
    const heartbeat = Math.max(1, Math.floor(idle * s.heartbeatFraction));
    const current = profile.heartbeatMs ?? cut.heartbeatMs ?? Number.POSITIVE_INFINITY;
    if (heartbeat < current) {
      profile.idleMs = Math.round(idle);
      profile.heartbeatMs = heartbeat;
      stampLesson(profile, 'heartbeat', now);
      const text = `idle clock: ${t} cut after ~${Math.round(idle)} ms of silence; asking for a heartbeat every ${heartbeat} ms`;
      note(profile, text, now);
      lessons.push({ rule: 'idle-clock', switchTo: null, note: text });
    }
  }
  return lessons;
}
