import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { type Fault, faultyStore } from '../helpers/faulty-store.js';
import { expectIdle, sleep, startServer } from '../helpers/server.js';

/*
 * A store fault at every await of the job lifecycle (start, progress, settle, cancel), each a
 * failure or a pause: every started job ends exactly once, its reader sees the end, and the
 * record matches the final event.
 */

const points = ['createJob', 'append', 'settleJob', 'requestCancel', 'getJob'] as const;
const faults: Fault[] = [{ fail: true }, { pauseMs: 300 }];

describe.each(points)('a store fault at %s', (point) => {
  it.each(faults.map((f) => [JSON.stringify(f), f] as const))('%s', async (_, fault) => {
    const faulty = faultyStore(createMemoryStore());
    faulty.plan((method, nth) => (method === point && nth === 1 ? fault : null));
    const s = await startServer({ store: faulty.store, settleRetryMs: 5000 });
    try {
      const job = await s.outlast
        .startJob(async (ctx) => {
          await ctx.progress({ step: 1 }).catch(() => {});
          await sleep(50);
          return 'done';
        })
        .catch(() => null);
      if (job === null) {
        // Refused at start: nothing ran, nothing is left running.
        expect(point).toBe('createJob');
        return;
      }
      // A cancel racing the end, through the route (getJob and requestCancel on the way).
      await fetch(`${s.base}/jobs/${job.id}`, { method: 'DELETE' }).then((r) => r.arrayBuffer());
      const record = await job.settled;
      expect(['succeeded', 'cancelled', 'failed']).toContain(record.state);
      const reader = connect('sse', s.base, job.id);
      expect((await reader.finished).how).toBe('end');
      const finals = eventsOf(reader.messages).filter((e) => e.event.startsWith('outlast.'));
      expect(finals).toHaveLength(1);
      const stored = await s.outlast.getJob(job.id);
      expect(stored?.state).toBe(record.state);
      if (record.state === 'succeeded') expect(finals[0]!.event).toBe('outlast.result');
      else expect(JSON.parse(finals[0]!.data)).toEqual(stored?.error);
      await expectIdle(s.outlast);
    } finally {
      await s.close();
    }
  });
});
