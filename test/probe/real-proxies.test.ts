import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../../src/probe/index.js';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { type RealProxy, startHaproxy, startNginx } from '../helpers/proxy-real.js';
import { withinGoal } from './expected.js';

/*
 * The probe against the real thing: Debian's nginx and HAProxy, started by the test with
 * generated configs on free ports, in front of the probe server. What they are configured
 * with is the truth the probe must find, within 5 % or 100 ms, and name them.
 */

let probe: RunningProbeServer;
const port = (): number => Number(new URL(probe.url).port);

beforeAll(async () => {
  probe = await startProbeServer({ maxRequestsPerMinute: 100_000 });
});
afterAll(async () => {
  await probe.close();
});

async function through(real: RealProxy, maxWaitMs: number) {
  try {
    return await runProbe(`${real.url}/outlast-probe`, { maxWaitMs });
  } finally {
    await real.stop();
  }
}

/** The clocks both proxies have: idle and first byte at `idleMs`, WebSocket idle at `wsIdleMs`, no total. */
function expectIdleClocks(
  report: Awaited<ReturnType<typeof through>>,
  idleMs: number,
  wsIdleMs: number,
) {
  const { sse, websocket } = report.limits;
  expect(withinGoal(sse.idleMs, idleMs), `sse idle ${sse.idleMs}`).toBe(true);
  expect(withinGoal(sse.firstByteMs, idleMs), `first byte ${sse.firstByteMs}`).toBe(true);
  expect(sse.totalMs).toBeNull();
  expect(withinGoal(websocket.idleMs, wsIdleMs), `ws idle ${websocket.idleMs}`).toBe(true);
}

describe('real nginx', () => {
  it('proxy_read_timeout 1500ms: idle and first-byte limits, 504 from nginx, no total clock', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const report = await through(
      await startNginx({ upstreamPort: port(), readTimeoutMs: 1500, buffering: true }),
      4000,
    );
    expectIdleClocks(report, 1500, 1500);
    expect(report.limits.websocket.totalMs).toBeNull();
    expect(report.cuts).toContainEqual(
      expect.objectContaining({
        experiment: 'first-byte',
        symptom: 'status-before-headers',
        status: 504,
      }),
    );
    expect(report.buffering.detected).toBe(false);
    expect(report.intermediaries.map((i) => i.name)).toContain('nginx');
    expect(report.culprits.find((c) => c.limit === 'sse.idleMs')?.name).toBe('nginx');
    expect(report.recommendation.serverConfig.map((s) => s.for)).toContain('nginx');
    expect(report.recommendation.heartbeatMs).toBeLessThanOrEqual(800);
  });

  it('gzip on text/event-stream: buffering found, and X-Accel-Buffering: no fixes it', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const report = await through(
      await startNginx({
        upstreamPort: port(),
        readTimeoutMs: 10_000,
        buffering: true,
        gzip: true,
      }),
      3000,
    );
    expect(report.buffering.detected).toBe(true);
    expect(report.buffering.heldBytes).toBeGreaterThan(1000);
    expect(report.buffering.fixedByHeaders).toBe(true);
  });
});

describe('real HAProxy', () => {
  it('timeout client/server 1500ms, tunnel 3000ms: idle, first byte (504) and the WebSocket tunnel', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const report = await through(
      await startHaproxy({ upstreamPort: port(), timeoutMs: 1500, tunnelMs: 3000 }),
      5000,
    );
    expectIdleClocks(report, 1500, 3000);
    expect(report.cuts).toContainEqual(
      expect.objectContaining({ experiment: 'first-byte', status: 504 }),
    );
    expect(report.intermediaries.map((i) => i.name)).toContain('HAProxy');
  });
});
