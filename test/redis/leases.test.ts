import { afterAll, describe, expect, it } from 'vitest';
import { createOutlast } from '../../src/server/index.js';
import type { StoredEvent } from '../../src/store/index.js';
import { testRedisStore } from '../helpers/redis-store.js';
import { sleep, until } from '../helpers/server.js';

/*
 * Job leases between two stores of one Redis (as two instances would be), on a 300 ms lease:
 * a live owner keeps its job however long it runs; an owner that stops renewing loses it.
 */

const servers: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function pair() {
  const keyPrefix = `lease${Math.random().toString(36).slice(2)}:`;
  const a = await testRedisStore({ keyPrefix, jobLeaseMs: 300 });
  const b = await testRedisStore({ keyPrefix, jobLeaseMs: 300 });
  const owner = createOutlast({ store: a, onError: () => {} });
  servers.push(owner);
  return { a, b, owner };
}

function follow(events: StoredEvent[]) {
  let ended = false;
  return {
    listener: { event: (e: StoredEvent) => events.push(e), end: () => (ended = true), lost() {} },
    get ended() {
      return ended;
    },
  };
}

describe('job leases', () => {
  it('keeps a job whose owner renews, however long it runs past the lease', async () => {
    const { b, owner } = await pair();
    const job = await owner.startJob(async (ctx) => {
      for (let i = 0; i < 6; i++) {
        await ctx.progress({ i });
        await sleep(200);
      }
      return 'done';
    });
    const events: StoredEvent[] = [];
    const f = follow(events);
    await b.subscribe(job.id, f.listener);
    expect((await job.settled).state).toBe('succeeded');
    await until(() => f.ended, 'the end on the other store');
    expect(events.at(-1)?.event).toBe('outlast.result');
    expect(events.some((e) => e.data.includes('job-lost'))).toBe(false);
    expect((await b.getJob(job.id))?.state).toBe('succeeded');
  });

  it('marks a job lost once its owner stops renewing, and ends its stream with job-lost', async () => {
    const { a, b, owner } = await pair();
    const job = await owner.startJob(async (ctx) => {
      while (!ctx.signal.aborted) {
        await ctx.progress('tick').catch(() => {});
        await sleep(50);
      }
    });
    const events: StoredEvent[] = [];
    const f = follow(events);
    await b.subscribe(job.id, f.listener);
    await until(() => events.length >= 2, 'progress on the other store');
    // The owner's store goes away: no more renewals (the process is as good as dead).
    await a.close();
    const stopped = Date.now();
    await until(() => f.ended, 'the stream to end', 10_000);
    expect(Date.now() - stopped).toBeLessThan(5000);
    const final = events.at(-1)!;
    expect(final.event).toBe('outlast.error');
    expect(JSON.parse(final.data)).toMatchObject({ code: 'job-lost' });
    expect(await b.getJob(job.id)).toMatchObject({
      id: job.id,
      state: 'lost',
      error: { code: 'job-lost' },
    });
    await job.cancel();
  });
});
