import { describe, expect, it } from 'vitest';
import { useProbePath } from '../helpers/probe-path.js';
import { cli } from './helpers.js';

/*
 * `outlast probe --json` is a stable contract (docs/probe.md): these are its fields and
 * types, through the Service Connect incident's path (Service Connect's 15 s total at 0.05: 750 ms).
 */

const path = useProbePath('cloudflare,aws-alb,aws-service-connect', 0.05);

const num = expect.any(Number);
const numOrNull = (v: unknown): boolean => v === null || typeof v === 'number';

describe('outlast probe --json', () => {
  it('prints the contract: limits, cuts, buffering, intermediaries, recommendation', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const { code, out } = await cli([
      'probe',
      `${path.proxy.url}/outlast-probe`,
      '--json',
      '--max-wait',
      '2s',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report).toMatchObject({
      target: `${path.proxy.url}/outlast-probe`,
      durationMs: num,
      limits: { sse: {}, websocket: {} },
      buffering: { detected: false, heldBytes: 0, fixedByHeaders: null },
      recommendation: { transport: 'websocket', heartbeatMs: num },
    });
    expect(Object.keys(report.limits.sse).sort()).toEqual(['firstByteMs', 'idleMs', 'totalMs']);
    expect(Object.keys(report.limits.websocket).sort()).toEqual(['idleMs', 'totalMs']);
    for (const v of [
      ...Object.values(report.limits.sse),
      ...Object.values(report.limits.websocket),
    ]) {
      expect(numOrNull(v)).toBe(true);
    }
    expect(report.limits.sse.totalMs).toBeGreaterThan(650);
    expect(report.limits.sse.totalMs).toBeLessThan(850);
    // Max-wait 2 s is shorter than the WebSocket idle clock (ALB's 60 s: 3 s): not a guess.
    expect(report.limits.websocket.idleMs).toBeNull();
    expect(report.notes.join('\n')).toContain('not reached up to 2 s');
    for (const c of report.cuts) {
      expect(Object.keys(c).sort()).toEqual(['atMs', 'experiment', 'status', 'symptom']);
      expect(typeof c.experiment).toBe('string');
      expect(typeof c.atMs).toBe('number');
      expect(typeof c.symptom).toBe('string');
      expect(numOrNull(c.status)).toBe(true);
    }
    expect(report.cuts).toContainEqual(
      expect.objectContaining({
        experiment: 'first-byte',
        symptom: 'status-before-headers',
        status: 504,
      }),
    );
    expect(report.cuts).toContainEqual(
      expect.objectContaining({
        experiment: 'sse-total',
        symptom: 'close-after-headers',
        status: null,
      }),
    );
    for (const i of report.intermediaries) {
      expect(typeof i.name).toBe('string');
      expect(i.evidence.length).toBeGreaterThan(0);
    }
    expect(report.intermediaries.map((i: { name: string }) => i.name)).toEqual(
      expect.arrayContaining([
        'Cloudflare',
        'AWS Application Load Balancer',
        'Envoy (AWS ECS Service Connect)',
      ]),
    );
    const r = report.recommendation;
    expect(r.maxStreamMs).toBeNull();
    expect(r.serverConfig.map((s: { for: string }) => s.for)).toEqual(
      expect.arrayContaining(['cloudflare', 'alb-terraform', 'service-connect', 'node', 'uvicorn']),
    );
    for (const s of r.serverConfig) expect(s.snippet.length).toBeGreaterThan(20);
    expect(
      report.culprits.find((c: { limit: string }) => c.limit === 'sse.totalMs')?.name,
    ).toContain('Envoy');
  });

  it('several layers: side by side, each limit attributed to the hop where it first appears', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    // Layer 1: the whole path; layer 2: Service Connect's own address; layer 3: the service.
    const sc = path.proxy.hops[2]!.url;
    const { code, out } = await cli([
      'probe',
      path.proxy.url,
      sc,
      path.probe.url,
      '--json',
      '--max-wait',
      '2s',
      '--transports',
      'sse',
    ]);
    expect(code).toBe(0);
    const { layers, hops } = JSON.parse(out);
    expect(layers).toHaveLength(3);
    const total = hops.find((h: { limit: string }) => h.limit === 'sse.totalMs');
    expect(total.values[2]).toBeNull();
    expect(total.values[1]).toBeGreaterThan(600);
    expect(total.appearsAt).toEqual([{ index: 1, valueMs: total.values[1] }]);
    const text = await cli([
      'probe',
      path.proxy.url,
      sc,
      path.probe.url,
      '--max-wait',
      '1500ms',
      '--transports',
      'sse',
    ]);
    expect(text.out).toContain('Where each limit first appears');
    expect(text.out).toMatch(/sse\.totalMs .*between layer 2 and what is behind it/);
  });
});
