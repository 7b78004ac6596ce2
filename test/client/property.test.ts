import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { startCutter } from './cutter.js';
import { collect, sleep, startTestServer, testOptions } from './helpers.js';

/*
 * Whatever the cut schedule (when, how: FIN or RST, over which transport, while events are
 * published at whatever pace), the sequence a client receives equals the sequence published:
 * nothing lost, nothing twice, in order.
 */
describe('property: received sequence == published sequence', () => {
  it('under any cut schedule, on every transport', async () => {
    const server = await startTestServer({ heartbeatMs: 100 });
    const port = Number(new URL(server.origin).port);
    const cutter = await startCutter(port);
    let runs = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('sse' as const, 'ws' as const, 'poll' as const),
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 0, max: 8 }),
          fc.array(
            fc.record({
              afterMs: fc.integer({ min: 0, max: 120 }),
              how: fc.constantFrom('fin' as const, 'rst' as const),
            }),
            { maxLength: 6 },
          ),
          async (transport, n, gapMs, schedule) => {
            runs++;
            const id = `p${runs}`;
            await server.outlast.publish(id, { data: -1 });
            const conn = connect(
              `${cutter.origin}/outlast/streams/${id}`,
              testOptions({ transports: [transport], protocol: 'outlast', learn: false }),
            );
            const cutting = (async () => {
              for (const cut of schedule) {
                await sleep(cut.afterMs);
                cutter.cutAll(cut.how);
              }
            })();
            const published: string[] = [];
            const publishing = (async () => {
              for (let i = 0; i < n; i++) {
                published.push(await server.outlast.publish(id, { data: i }));
                if (gapMs > 0) await sleep(gapMs);
              }
              await cutting;
              await server.outlast.end(id);
            })();
            const got = await collect(conn);
            await publishing;
            expect(got.map((e) => e.data)).toEqual(['-1', ...published.map((_, i) => String(i))]);
            expect(got.slice(1).map((e) => e.id)).toEqual(published);
          },
        ),
        { numRuns: 30, seed: Number(process.env.FC_SEED ?? Date.now() % 1e9) },
      );
    } finally {
      await cutter.close();
      await server.close();
    }
  }, 120_000);
});
