import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import type { HopKnobs } from '../../src/proxy/index.js';
import type { TestServer } from '../helpers/server.js';
import { collect, proxyFor, sleep, startTestServer, testOptions } from './helpers.js';

/*
 * A job through the real proxy's faults, on every transport: random resets, idle and total
 * clocks, buffering, WebSockets refused. Every run must complete with every progress event
 * once, in order, and the job's result.
 */

const STEPS = 25;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    heartbeatMs: 60,
    jobs: {
      count: async (ctx: { input: { ms: number }; progress(d: unknown): Promise<void> }) => {
        for (let i = 0; i < STEPS; i++) {
          await ctx.progress({ i });
          await sleep(ctx.input.ms);
        }
        return 'counted';
      },
    },
  });
});
afterAll(() => server.close());

const faults: Array<[string, { preset?: string; knobs?: Partial<HopKnobs>; timeScale?: number }]> =
  [
    ['random resets', { knobs: { resetProbability: 0.5, resetMaxBytes: 600 } }],
    ['an idle clock', { knobs: { idleMs: 250 } }],
    ['a total clock', { knobs: { totalMs: 200, websocketTotalMs: 200 } }],
    ['buffering', { knobs: { bufferBytes: 4_096, bufferTypes: ['text/event-stream'] } }],
    ['WebSocket refused', { knobs: { websocket: 'refuse' } }],
    [
      'the Service Connect chain',
      { preset: 'cloudflare,aws-alb,aws-service-connect', timeScale: 0.01 },
    ],
  ];

describe.each(['sse', 'ws', 'poll'] as const)('first transport %s', (first) => {
  it.each(faults)('completes a job through %s', async (_name, proxyOptions) => {
    const proxy = await proxyFor(server, proxyOptions);
    try {
      const order = [first, ...(['sse', 'ws', 'poll'] as const).filter((t) => t !== first)];
      const conn = connect(
        `${proxy.base}/jobs/count`,
        // Half of all connections are reset on the first path, the job's POST included:
        // six attempts would fail together about 1.6 % of the time.
        testOptions({
          body: { ms: 15 },
          transports: order,
          protocol: 'outlast',
          maxStartAttempts: 20,
        }),
      );
      const got = await collect(conn);
      expect(got.map((e) => JSON.parse(e.data).i)).toEqual(
        Array.from({ length: STEPS }, (_, i) => i),
      );
      expect(await conn.result).toBe('counted');
    } finally {
      await proxy.close();
    }
  });
});
