import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../../src/probe/index.js';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { createProxy } from '../../src/proxy/index.js';

/*
 * A silent drop (the aws-nlb preset: an L4 balancer forgets a connection after 350 s of
 * silence and tells nobody) is only seen on the next send: the marker ladder brackets it.
 * Its precision is the ladder's (20 rungs: within 16 %, the midpoint within about 8 %), not
 * the 5 % of the clocks that cut actively.
 */

let probe: RunningProbeServer;
beforeAll(async () => {
  probe = await startProbeServer({ maxRequestsPerMinute: 100_000 });
});
afterAll(async () => {
  await probe.close();
});

describe('silent drops', () => {
  it('aws-nlb at time scale 0.01: the idle limit bracketed by lost markers', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const proxy = await createProxy({
      target: probe.url.replace(/\/outlast-probe$/, ''),
      preset: 'aws-nlb',
      timeScale: 0.01,
    });
    try {
      const report = await runProbe(`${proxy.url}/outlast-probe`, { maxWaitMs: 5000 });
      const truth = 3500;
      expect(report.limits.sse.idleMs).not.toBeNull();
      expect(Math.abs(report.limits.sse.idleMs! - truth) / truth).toBeLessThanOrEqual(0.1);
      expect(report.cuts.some((c) => c.symptom === 'marker-lost')).toBe(true);
      expect(report.notes.join('\n')).toContain('silent drop');
      // Nothing ever closes: the silent streams look alive until max-wait.
      expect(report.cuts.some((c) => c.experiment === 'sse-idle')).toBe(false);
    } finally {
      await proxy.close();
    }
  });
});
