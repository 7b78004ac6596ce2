import type { KnownClock, KnownProduct, LimitKey } from '../knowledge/index.js';
import type { Limits } from './analyze.js';
import { sameClock } from './analyze.js';
import {
  type Answer,
  answerSender,
  baselineHeaders,
  type Chain,
  type Identified,
} from './identify.js';
import type { Culprit, CulpritFix, ExperimentRecord } from './types.js';

const fmt = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s` : `${Math.round(ms)} ms`;

/** What each limit is, in words. */
const limitWords: Record<LimitKey, string> = {
  'sse.firstByteMs': 'the wait for the response headers',
  'sse.idleMs': 'silence after the headers',
  'sse.totalMs': "a busy response's whole life",
  'websocket.idleMs': 'a silent WebSocket',
  'websocket.totalMs': "a busy WebSocket's whole life",
};

/** The value a fix raises a clock to: 5 min for idle clocks, 1 h for total ones. */
function fixTarget(limit: LimitKey): number {
  return limit.endsWith('totalMs') ? 3_600_000 : 300_000;
}

function fixOf(clock: KnownClock, limit: LimitKey): CulpritFix {
  const target = fixTarget(limit);
  return {
    setting: clock.setting,
    value: fmt(target),
    line: clock.fix(target),
    where: clock.where,
  };
}

/** The clocks of a product that can make this limit. */
const clocksFor = (p: KnownProduct, limit: LimitKey): KnownClock[] =>
  p.clocks.filter((c) => c.limits.includes(limit));

/** Same clock within the product's granularity (a once-a-second check lands up to 1 s late). */
function sameWithin(a: number, b: number, granularityMs: number): boolean {
  return sameClock(a, b) || Math.abs(a - b) <= granularityMs * 1.1;
}

/** What the attribution is built from. */
export interface AttributionInput {
  target: string;
  limits: Limits;
  maxWaitMs: number;
  records: readonly ExperimentRecord[];
  found: readonly Identified[];
  chain: Chain;
  echo: Array<[string, string]> | null;
}

/**
 * Names the hop behind each limit, and says how it knows (`basis`):
 * - `evidence`: the hop answered itself (its error page or headers on the cut, before the
 *   headers), or a header it sent names the clock (Envoy's `x-envoy-expected-rq-timeout-ms`),
 *   or the limit is the same clock as one the hop answered itself for, a clock its product
 *   documents as bounding both;
 * - `inference`: not seen on the wire, but the only hop found that has such a clock (every
 *   hop counted is named), or a product's documented default matches; worded as such, with
 *   what would confirm it;
 * - `unknown`: the candidates, and how to pop one piece out.
 * A guess is never given as a finding: without evidence the name is `unknown` or worded as
 * an inference.
 */
export function attribute(input: AttributionInput): Culprit[] {
  const { limits, records, found, chain, echo, maxWaitMs } = input;
  const baseline = baselineHeaders(records);
  const products = found.map((f) => f.known).filter((p): p is KnownProduct => p !== null);
  // "All named" needs a count to trust: a hop that replaces X-Forwarded-For hides the hops
  // in front of it from the count.
  const allNamed =
    found.every((f) => f.known !== null) && chain.count <= products.length && !chain.lowerBound;
  const envoyTimeout = Number(echo?.find(([n]) => n === 'x-envoy-expected-rq-timeout-ms')?.[1]);
  const fb = records.find((r) => r.name === 'first-byte');
  const firstByteMs = limits.sse.firstByteMs;
  // Who answered the hold itself (the first-byte limit), if anyone says so.
  const fbAnswer: Answer | null =
    fb?.symptom === 'status-before-headers'
      ? { status: fb.status, headers: fb.responseHeaders, body: fb.errorBody ?? '' }
      : null;
  const fbSender = fbAnswer === null ? null : answerSender(fbAnswer, baseline);
  const out: Culprit[] = [];

  const add = (limit: LimitKey, valueMs: number | null): void => {
    if (valueMs === null) return;
    const base = { limit, valueMs };
    // 1. A header names the clock.
    if (
      limit.endsWith('totalMs') &&
      Number.isFinite(envoyTimeout) &&
      Math.abs(envoyTimeout - valueMs) <= Math.max(100, valueMs * 0.05)
    ) {
      const envoy = products.find((p) => p.id === 'envoy');
      const clock = envoy === undefined ? undefined : clocksFor(envoy, limit)[0];
      out.push({
        ...base,
        name: envoy?.name ?? 'Envoy',
        basis: 'evidence',
        reason: `the backend received x-envoy-expected-rq-timeout-ms: ${envoyTimeout}, the clock that cut at ${fmt(valueMs)}`,
        fix: envoy === undefined || clock === undefined ? null : fixOf(clock, limit),
      });
      return;
    }
    // 2. The hop answered the hold itself.
    if (limit === 'sse.firstByteMs' && fbSender !== null) {
      const clock =
        clocksFor(fbSender.product, limit).find((c) => c.status === fb?.status) ??
        clocksFor(fbSender.product, limit)[0];
      out.push({
        ...base,
        name: fbSender.product.name,
        basis: 'evidence',
        reason: `it answered ${fb?.status} itself when the hold reached ${fmt(valueMs)}: ${fbSender.evidence.join('; ')}`,
        fix: clock === undefined ? null : fixOf(clock, limit),
      });
      return;
    }
    // 3. The same clock as one the hop answered itself for.
    if (limit !== 'sse.firstByteMs' && fbSender !== null && firstByteMs !== null) {
      const shared = fbSender.product.clocks.find(
        (c) =>
          c.limits.includes('sse.firstByteMs') &&
          c.limits.includes(limit) &&
          sameWithin(valueMs, firstByteMs, c.granularityMs),
      );
      if (shared !== undefined) {
        out.push({
          ...base,
          name: fbSender.product.name,
          basis: 'evidence',
          reason: `${fbSender.product.name} answered the first-byte hold itself at ${fmt(firstByteMs)} (${fbSender.evidence[0]}); its ${shared.setting} bounds both the wait for headers and ${limitWords[limit]}, and this cut at ${fmt(valueMs)} is that clock`,
          fix: fixOf(shared, limit),
        });
        return;
      }
    }
    // 4. Who could it be: the hops found with a clock of this kind, less those ruled out.
    const candidates = products.filter((p) => {
      const clocks = clocksFor(p, limit);
      if (clocks.length === 0) return false;
      // A clock that would also bound the first byte cannot be shorter than the first-byte
      // limit seen (or max-wait, when none was reached).
      const fbBound = firstByteMs ?? maxWaitMs;
      return clocks.some(
        (c) =>
          !c.limits.includes('sse.firstByteMs') ||
          limit === 'sse.firstByteMs' ||
          valueMs >= fbBound * 0.92 - Math.max(100, c.granularityMs),
      );
    });
    const unique = [...new Map(candidates.map((p) => [p.id, p])).values()];
    if (unique.length === 1 && allNamed) {
      const p = unique[0]!;
      const clock = clocksFor(p, limit)[0]!;
      out.push({
        ...base,
        name: p.name,
        basis: 'inference',
        reason: `inferred, not seen: of the ${chain.count} hop${chain.count === 1 ? '' : 's'} counted, all named, only ${p.name} has a clock that can cut ${limitWords[limit]} (${clock.setting})`,
        confirm: `set ${clock.setting} on ${p.name} to another value and probe again: the limit moves with it`,
        candidates: [p.name],
        fix: fixOf(clock, limit),
      });
      return;
    }
    const byDefault = unique.filter((p) =>
      clocksFor(p, limit).some(
        (c) =>
          c.defaultMs !== null &&
          Math.abs(c.defaultMs - valueMs) <= Math.max(0.05 * c.defaultMs, c.granularityMs),
      ),
    );
    if (byDefault.length === 1) {
      const p = byDefault[0]!;
      const clock = clocksFor(p, limit).find((c) => c.defaultMs !== null)!;
      out.push({
        ...base,
        name: p.name,
        basis: 'inference',
        reason: `inferred, not seen: ${fmt(valueMs)} matches the default of ${p.name}'s ${clock.setting} (${fmt(clock.defaultMs!)})`,
        confirm: `check ${clock.setting} on ${p.name}, or probe the layer behind it: if the limit is gone there, it is ${p.name}`,
        candidates: unique.map((c) => c.name),
        fix: fixOf(clock, limit),
      });
      return;
    }
    out.push({
      ...base,
      name: 'unknown',
      basis: 'unknown',
      reason:
        unique.length === 0
          ? `no hop that announced itself has a clock that cuts ${limitWords[limit]}${allNamed ? '' : '; some hops do not name themselves'}`
          : `not seen on the wire; hops that could: ${unique.map((p) => `${p.name} (${clocksFor(p, limit)[0]!.setting})`).join(', ')}${allNamed ? '' : `, or one of the hops that do not name themselves (${chain.count} counted, ${products.length} named)`}`,
      candidates: unique.map((p) => p.name),
      popOut: popOut(input.target, unique),
      fix: null,
    });
  };
  add('sse.firstByteMs', limits.sse.firstByteMs);
  add('sse.idleMs', limits.sse.idleMs);
  add('sse.totalMs', limits.sse.totalMs);
  add('websocket.idleMs', limits.websocket.idleMs);
  add('websocket.totalMs', limits.websocket.totalMs);
  return out;
}

/** How to pop one piece out: the same probe server through fewer layers. */
function popOut(target: string, candidates: readonly KnownProduct[]): string[] {
  const path = new URL(target).pathname;
  const behind = candidates.map(
    (p) => `outlast probe ${target} http://ADDRESS-BEHIND-${p.id.toUpperCase()}${path}`,
  );
  return behind.length > 0
    ? behind
    : [`outlast probe ${target} http://NEXT-HOP-ADDRESS${path} http://APP-ADDRESS${path}`];
}
