import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../../src/probe/index.js';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { createProxy } from '../../src/proxy/index.js';
import { type Expected, expectedLimits, withinGoal } from './expected.js';

/**
 * The accuracy table: the probe through every proxy preset, several chains and several time
 * scales, graded against the proxy's own knobs. Each row's scale puts its longest limit near
 * `TARGET_MS` so the suite stays fast, and no limit below the 100 ms floor of the goal.
 */
const TARGET_MS = 5000;
const rows: Array<{ preset: string; scale?: number }> = [
  { preset: 'cloudflare' },
  { preset: 'aws-alb' },
  { preset: 'aws-service-connect' },
  { preset: 'envoy' },
  { preset: 'nginx' },
  { preset: 'nginx-gzip' },
  { preset: 'haproxy' },
  { preset: 'heroku' },
  { preset: 'gcp-lb' },
  { preset: 'cloud-run' },
  { preset: 'api-gateway' },
  { preset: 'cloudfront' },
  { preset: 'azure-front-door' },
  { preset: 'corporate-av' },
  { preset: 'ingress-nginx' },
  { preset: 'express-compression' },
  { preset: 'cloudflare,aws-alb,aws-service-connect', scale: 0.05 },
  { preset: 'cloudflare,aws-alb,aws-service-connect', scale: 0.1 },
  { preset: 'cloudflare,aws-alb' },
  { preset: 'cloudfront,nginx' },
  { preset: 'heroku,gcp-lb', scale: 0.1 },
  { preset: 'varnish' },
  { preset: 'squid' },
  { preset: 'apache' },
  { preset: 'fastly' },
  { preset: 'kong' },
  { preset: 'vercel' },
  { preset: 'fastly,varnish,apache' },
];

/**
 * The scale of a row: its longest limit up to 2 min near TARGET_MS (at most 0.1); longer
 * ones (Service Connect's 300 s idle, CloudFront's 10 min WebSocket idle) then lie past
 * max-wait and must be reported "not reached". Rows with only longer limits scale those.
 */
function scaleFor(preset: string): number {
  const longest =
    expectedLimits(preset, 1, 120_000).longestMs || expectedLimits(preset, 1, 600_000).longestMs;
  return longest === 0 ? 0.1 : Math.min(0.1, TARGET_MS / longest);
}

/** The product name the probe should give each preset's hop (from its fingerprint). */
const productOf: Record<string, string[]> = {
  cloudflare: ['Cloudflare'],
  'aws-alb': ['AWS Application Load Balancer'],
  'aws-service-connect': ['Envoy (AWS ECS Service Connect)'],
  envoy: ['Envoy (AWS ECS Service Connect)'],
  nginx: ['nginx'],
  'nginx-gzip': ['nginx'],
  'ingress-nginx': ['nginx', 'ingress-nginx (Kubernetes)'],
  haproxy: ['HAProxy'],
  heroku: ['Heroku router'],
  'gcp-lb': ['Google Cloud external Application Load Balancer'],
  'cloud-run': ['Google Cloud Run'],
  'api-gateway': ['AWS API Gateway'],
  cloudfront: ['Amazon CloudFront'],
  'azure-front-door': ['Azure Front Door'],
  'corporate-av': [],
  'express-compression': [],
  varnish: ['Varnish Cache'],
  squid: ['Squid'],
  apache: ['Apache httpd (mod_proxy)'],
  fastly: ['Fastly'],
  akamai: ['Akamai'],
  kong: ['Kong Gateway'],
  'azure-app-gateway': ['Azure Application Gateway'],
  fly: ['Fly.io proxy'],
  vercel: ['Vercel'],
};

/**
 * The names a culprit may carry: the product of the hop whose own limit is the chain's
 * (ties: any of them); `unknown` is always allowed, another name never.
 */
function allowedCulprits(
  preset: string,
  limit: string,
  value: number | null,
  scale: number,
  maxWaitMs: number,
): string[] {
  if (value === null) return [];
  const [t, n] = limit.split('.') as ['sse' | 'websocket', string];
  const names: string[] = [];
  for (const hop of preset.split(',')) {
    const own = expectedLimits(hop, scale, maxWaitMs);
    const v = (own[t] as Record<string, number | null>)[n] ?? null;
    if (v !== null && withinGoal(v, value)) names.push(...(productOf[hop] ?? []));
  }
  return names;
}

const table: string[] = [];
let probe: RunningProbeServer;

beforeAll(async () => {
  probe = await startProbeServer({ maxRequestsPerMinute: 100_000, maxConcurrent: 2_000 });
});
afterAll(async () => {
  await probe.close();
  const head =
    '| path | scale | limit | truth | measured | ok | culprit (basis) | name ok |\n|---|---|---|---|---|---|---|---|';
  console.log(
    `\nAccuracy table (goal: within 5 % or 100 ms; duration within 1.3x the longest limit or max-wait)\n${head}\n${table.join('\n')}`,
  );
});

const fmt = (v: number | null): string => (v === null ? 'null' : `${Math.round(v)} ms`);

describe.concurrent('probe accuracy over presets, chains and time scales', () => {
  for (const row of rows) {
    const scale = row.scale ?? scaleFor(row.preset);
    it(`${row.preset} at time scale ${+scale.toFixed(4)}`, {
      timeout: 60_000,
      retry: 1,
    }, async () => {
      const longest =
        expectedLimits(row.preset, scale, 120_000 * scale).longestMs ||
        expectedLimits(row.preset, scale, 600_000 * scale).longestMs;
      const maxWaitMs = Math.max(2500, Math.round(longest * 1.25 + 500));
      const truth: Expected = expectedLimits(row.preset, scale, maxWaitMs);
      const proxy = await createProxy({
        target: probe.url.replace(/\/outlast-probe$/, ''),
        preset: row.preset,
        timeScale: scale,
      });
      try {
        const report = await runProbe(`${proxy.url}/outlast-probe`, { maxWaitMs });
        const pairs: Array<[string, number | null, number | null]> = [
          ['sse.firstByteMs', report.limits.sse.firstByteMs, truth.sse.firstByteMs],
          ['sse.idleMs', report.limits.sse.idleMs, truth.sse.idleMs],
          ['sse.totalMs', report.limits.sse.totalMs, truth.sse.totalMs],
          ['websocket.idleMs', report.limits.websocket.idleMs, truth.websocket.idleMs],
          ['websocket.totalMs', report.limits.websocket.totalMs, truth.websocket.totalMs],
        ];
        const wrongNames: string[] = [];
        for (const [name, measured, expected] of pairs) {
          const c = report.culprits.find((x) => x.limit === name);
          const allowed = allowedCulprits(row.preset, name, expected, scale, maxWaitMs);
          const nameOk = c === undefined || c.name === 'unknown' || allowed.includes(c.name);
          if (!nameOk)
            wrongNames.push(
              `${name}: named ${c?.name} (${c?.basis}), allowed ${allowed.join(' / ') || 'unknown only'}`,
            );
          table.push(
            `| ${row.preset} | ${+scale.toFixed(4)} | ${name} | ${fmt(expected)} | ${fmt(measured)} | ${withinGoal(measured, expected) ? 'yes' : 'NO'} | ${c === undefined ? '-' : `${c.name} (${c.basis})`} | ${nameOk ? 'yes' : 'NO'} |`,
          );
        }
        const found = [
          report.limits.sse.firstByteMs,
          report.limits.sse.idleMs,
          report.limits.sse.totalMs,
          report.limits.websocket.idleMs,
          report.limits.websocket.totalMs,
        ];
        const anyNull = found.some((v) => v === null);
        const longest = Math.max(0, ...found.filter((v): v is number => v !== null));
        const budget = anyNull ? maxWaitMs * 1.1 + 300 : longest * 1.3 + 300;
        table.push(
          `| ${row.preset} | ${+scale.toFixed(4)} | duration | <= ${Math.round(budget)} ms | ${report.durationMs} ms | ${report.durationMs <= budget ? 'yes' : 'NO'} |`,
        );
        table.push(
          `| ${row.preset} | ${+scale.toFixed(4)} | buffering | ${truth.buffered} / fixed ${truth.fixedByHeaders} | ${report.buffering.detected} / fixed ${report.buffering.fixedByHeaders} | ${report.buffering.detected === truth.buffered ? 'yes' : 'NO'} |`,
        );
        for (const [name, measured, expected] of pairs) {
          expect(
            withinGoal(measured, expected),
            `${name}: measured ${fmt(measured)}, truth ${fmt(expected)}`,
          ).toBe(true);
        }
        expect(wrongNames, 'a culprit named a hop whose clock did not fire').toEqual([]);
        expect(report.durationMs).toBeLessThanOrEqual(budget);
        expect(report.buffering.detected).toBe(truth.buffered);
        if (truth.buffered) expect(report.buffering.fixedByHeaders).toBe(truth.fixedByHeaders);
        expect(report.transports.websocket.works).toBe(!truth.wsRefused);
        expect(report.transports.longPoll.works).toBe(true);
      } finally {
        await proxy.close();
      }
    });
  }
});
