import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../../src/probe/index.js';
import type { LimitKey } from '../../src/probe/knowledge/index.js';
import { renderHtmlReport } from '../../src/probe/report/html.js';
import { formatReport } from '../../src/probe/report/text.js';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import {
  startApache,
  startCaddy,
  startLighttpd,
  startSquid,
  startTrafficServer,
  startVarnish,
} from '../helpers/proxy-products.js';
import { type RealProxy, startHaproxy, startNginx } from '../helpers/proxy-real.js';

/*
 * Real chains of two and three intermediaries from Debian's packages, each hop with its own
 * clock values, in several orders, in front of one probe server. Each hop says which limits
 * its clocks produce and within what window (products that count in whole seconds and check
 * once a second land up to a second late); the truth of a limit is the hop with the
 * shortest clock for it. Every culprit must be that hop or `unknown`, never another name; a
 * limit whose hop answered itself on the wire must be named with `evidence`.
 */

/** A hop of a chain: how to start it in front of a port, and what its clocks produce. */
interface HopSpec {
  /** The product's name as the probe reports it. */
  name: string;
  start(upstreamPort: number): Promise<RealProxy>;
  /** Per limit it can produce: the window [lo, hi] in ms where the cut lands. */
  clocks: Partial<Record<LimitKey, [number, number]>>;
  /** Whether it refuses WebSocket upgrades (then no WebSocket limit exists on the chain). */
  refusesWebSocket?: boolean;
}

/** A window around a ms-precise clock: within 5 % or 150 ms. */
const ms = (v: number): [number, number] => [
  v - Math.max(150, v * 0.05),
  v + Math.max(150, v * 0.05),
];
/** A whole-second clock checked once a second: from the value to 1.4 s past it. */
const late = (v: number): [number, number] => [v - 150, v + 1400];
/** Squid's once-a-second check: a second either side. */
const around = (v: number): [number, number] => [v - 1150, v + 1150];

const nginx = (readMs: number): HopSpec => ({
  name: 'nginx',
  start: (up) => startNginx({ upstreamPort: up, readTimeoutMs: readMs, buffering: true }),
  clocks: {
    'sse.firstByteMs': ms(readMs),
    'sse.idleMs': ms(readMs),
    'websocket.idleMs': ms(readMs),
  },
});
const haproxy = (timeoutMs: number, tunnelMs: number): HopSpec => ({
  name: 'HAProxy',
  start: (up) => startHaproxy({ upstreamPort: up, timeoutMs, tunnelMs }),
  clocks: {
    'sse.firstByteMs': ms(timeoutMs),
    'sse.idleMs': ms(timeoutMs),
    'websocket.idleMs': ms(tunnelMs),
  },
});
const varnish = (fb: number, bb: number, pipe: number, send?: number): HopSpec => ({
  name: 'Varnish Cache',
  start: (up) =>
    startVarnish({
      upstreamPort: up,
      firstByteMs: fb,
      betweenBytesMs: bb,
      pipeTimeoutMs: pipe,
      ...(send === undefined ? {} : { sendTimeoutMs: send }),
    }),
  clocks: {
    'sse.firstByteMs': ms(fb),
    // Measured: between_bytes lands up to ~150 ms late.
    'sse.idleMs': [bb - 150, bb + 300],
    'websocket.idleMs': ms(pipe),
    ...(send === undefined ? {} : { 'sse.totalMs': ms(send) }),
  },
});
const apache = (timeoutS: number): HopSpec => ({
  name: 'Apache httpd (mod_proxy)',
  start: (up) => startApache({ upstreamPort: up, timeoutMs: timeoutS * 1000 }),
  clocks: {
    'sse.firstByteMs': ms(timeoutS * 1000),
    'sse.idleMs': ms(timeoutS * 1000),
    'websocket.idleMs': ms(timeoutS * 1000),
  },
});
const squid = (readS: number): HopSpec => ({
  name: 'Squid',
  start: (up) => startSquid({ upstreamPort: up, readTimeoutMs: readS * 1000 }),
  clocks: {
    'sse.firstByteMs': around(readS * 1000),
    'sse.idleMs': around(readS * 1000),
  },
  refusesWebSocket: true,
});
const lighttpd = (readS: number): HopSpec => ({
  name: 'lighttpd (mod_proxy)',
  start: (up) => startLighttpd({ upstreamPort: up, readTimeoutMs: readS * 1000 }),
  clocks: {
    'sse.firstByteMs': late(readS * 1000 + 1000),
    'sse.idleMs': late(readS * 1000 + 1000),
    'websocket.idleMs': late(readS * 1000 + 1000),
  },
});
const caddy = (headerMs: number): HopSpec => ({
  name: 'Caddy (reverse_proxy)',
  start: (up) => startCaddy({ upstreamPort: up, responseHeaderTimeoutMs: headerMs }),
  clocks: { 'sse.firstByteMs': ms(headerMs) },
});
const trafficServer = (idleS: number): HopSpec => ({
  name: 'Apache Traffic Server',
  start: (up) => startTrafficServer({ upstreamPort: up, noActivityOutMs: idleS * 1000 }),
  clocks: { 'sse.idleMs': late(idleS * 1000) },
});

/** Chains, outermost first; each hop's clocks differ so that each limit has one owner. */
const chains: HopSpec[][] = [
  [nginx(4000), varnish(2500, 1500, 3000), haproxy(5500, 5500)],
  [varnish(4500, 4000, 4500, 3500), apache(2), nginx(5500)],
  [squid(5), nginx(1500), lighttpd(3)],
  [caddy(1200), haproxy(2500, 4000), apache(5)],
  [trafficServer(4), varnish(1500, 3000, 2000), caddy(5500)],
  [haproxy(1500, 3000), nginx(2500)],
  [apache(2), squid(5)],
];

const MAX_WAIT = 7000;
const LIMITS: LimitKey[] = [
  'sse.firstByteMs',
  'sse.idleMs',
  'sse.totalMs',
  'websocket.idleMs',
  'websocket.totalMs',
];

/** The hop that owns a limit: the one whose window starts first. */
function owner(
  chain: HopSpec[],
  limit: LimitKey,
): { hop: HopSpec; window: [number, number] } | null {
  if (limit.startsWith('websocket') && chain.some((h) => h.refusesWebSocket)) return null;
  let best: { hop: HopSpec; window: [number, number] } | null = null;
  for (const hop of chain) {
    const w = hop.clocks[limit];
    if (w !== undefined && (best === null || w[0] < best.window[0])) best = { hop, window: w };
  }
  return best !== null && best.window[0] < MAX_WAIT ? best : null;
}

let probe: RunningProbeServer;
const table: string[] = [];

beforeAll(async () => {
  probe = await startProbeServer({ maxRequestsPerMinute: 100_000 });
});
afterAll(async () => {
  await probe.close();
  console.log(
    `\nReal chains (outermost first): limit, true hop, measured, named, basis\n${table.join('\n')}`,
  );
});

describe('real chains: every culprit is the hop whose clock fired, or unknown', () => {
  for (const chain of chains) {
    const label = chain.map((h) => h.name.replace(/ \(.*\)$/, '')).join(' > ');
    it(label, { timeout: 60_000, retry: 1 }, async () => {
      // Started innermost first: each hop proxies to the one behind it.
      const started: RealProxy[] = [];
      try {
        let port = Number(new URL(probe.url).port);
        for (const hop of [...chain].reverse()) {
          const real = await hop.start(port);
          started.push(real);
          port = Number(new URL(real.url).port);
        }
        const outer = started[started.length - 1]!;
        const report = await runProbe(`${outer.url}/outlast-probe`, { maxWaitMs: MAX_WAIT });
        const problems: string[] = [];
        for (const limit of LIMITS) {
          const [t, n] = limit.split('.') as ['sse' | 'websocket', string];
          const measured = (report.limits[t] as Record<string, number | null>)[n] ?? null;
          const truth = owner(chain, limit);
          const culprit = report.culprits.find((c) => c.limit === limit);
          table.push(
            `| ${label} | ${limit} | ${truth === null ? '-' : `${truth.hop.name} [${truth.window.join('-')}]`} | ${measured ?? '-'} | ${culprit?.name ?? '-'} | ${culprit?.basis ?? '-'} |`,
          );
          if (truth === null) {
            if (measured !== null) problems.push(`${limit}: measured ${measured}, no hop has it`);
            continue;
          }
          if (measured === null || measured < truth.window[0] || measured > truth.window[1]) {
            problems.push(
              `${limit}: measured ${measured}, ${truth.hop.name} window ${truth.window}`,
            );
          }
          if (culprit === undefined) {
            problems.push(`${limit}: no culprit`);
            continue;
          }
          if (culprit.basis === 'unknown') {
            if (culprit.name !== 'unknown')
              problems.push(`${limit}: unknown basis names ${culprit.name}`);
            if ((culprit.popOut ?? []).length === 0)
              problems.push(`${limit}: unknown without pop-out`);
          } else {
            if (culprit.name !== truth.hop.name)
              problems.push(
                `${limit}: named ${culprit.name} (${culprit.basis}), truth ${truth.hop.name}`,
              );
            if (culprit.fix === null) problems.push(`${limit}: named without a fix`);
          }
          if (culprit.basis === 'inference') {
            expect(culprit.reason).toMatch(/^inferred, not seen/);
            expect(culprit.confirm).toBeTruthy();
          }
        }
        // The first-byte limit's hop answered itself: named with evidence when its page or
        // headers say who it is (Caddy's empty 504 names no one).
        const fb = owner(chain, 'sse.firstByteMs');
        const fbCulprit = report.culprits.find((c) => c.limit === 'sse.firstByteMs');
        if (fb !== null && fb.hop.name !== 'Caddy (reverse_proxy)') {
          if (fbCulprit?.basis !== 'evidence')
            problems.push(`first byte: ${fb.hop.name} answered itself, basis ${fbCulprit?.basis}`);
        }
        // Counted and ordered: every hop appends x-forwarded-for; the order the wire tells
        // (request Via, the malformed request's answerer first) is the chain's.
        // (Caddy replaces x-forwarded-for: with it the count is a lower bound.)
        const resets = chain.some((h) => h.name.startsWith('Caddy'));
        if (resets ? report.chain.count > chain.length : report.chain.count !== chain.length)
          problems.push(`counted ${report.chain.count} hops: ${report.chain.evidence[0]}`);
        const names = chain.map((h) => h.name);
        const positions = report.chain.order.map((n) => names.indexOf(n));
        if (positions.some((p, i) => p < 0 || (i > 0 && p <= positions[i - 1]!)))
          problems.push(`order ${report.chain.order.join(' > ')} is not the chain's`);
        // The text and HTML reports show each basis; no guess reads as a finding.
        const text = formatReport(report);
        const html = renderHtmlReport([report]);
        for (const c of report.culprits) {
          if (!text.includes(`[${c.basis}]`)) problems.push(`text lacks [${c.basis}]`);
          if (!html.includes(`class="basis ${c.basis}"`)) problems.push(`html lacks ${c.basis}`);
        }
        if (/probably unknown|: unknown \[(evidence|inference)\]/.test(text))
          problems.push('text words an unknown as a finding');
        expect(
          problems,
          `${label}\n${JSON.stringify(report.culprits, null, 1)}\n${JSON.stringify(report.chain)}`,
        ).toEqual([]);
      } finally {
        for (const real of started.reverse()) await real.stop();
      }
    });
  }
});
