import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { testOptions } from '../client/helpers.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { closeIdle, sleep, startServer, type TestServer } from '../helpers/server.js';

/*
 * A real redis-server restarted (its data kept) while a job runs, at each await of the job's
 * life: a progress write and the settle meet Redis down. Whatever the moment, the job ends
 * once, the outlast client reading it gets every event stored once and in order and then the
 * end, and the stored record says what the reader saw. A progress write that meets the
 * outage rejects (store-unavailable): a job that catches it goes on and succeeds, one that
 * does not fails with that code; the settle is retried until Redis is back.
 */

const STEPS = 6;
let redis: TestRedis | undefined;
let store: RedisStore | undefined;
let server: TestServer | undefined;

afterEach(async () => {
  await closeIdle(server);
  server = undefined;
  await store?.close();
  store = undefined;
});
afterAll(async () => {
  await redis?.close();
});

/** A gate the job waits at; the test restarts Redis while the job is held there. */
function gate() {
  let open!: () => void;
  let reached!: () => void;
  const arrived = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const wait = () => {
    reached();
    return opened;
  };
  return { arrived, open, wait };
}

type Case = 'progress, uncaught' | 'progress, caught' | 'settle';

describe.each<[string, Case]>([
  ['a progress write meets Redis down; the job does not catch it', 'progress, uncaught'],
  ['a progress write meets Redis down; the job catches it and goes on', 'progress, caught'],
  ['the settle meets Redis down', 'settle'],
])('a Redis restart while a job runs: %s', (_, at) => {
  it('ends the job once; the reader gets what was stored once, then the end; the record agrees', async () => {
    redis ??= await startRedis({ args: ['--appendonly', 'yes'] });
    store = await createRedisStore({
      url: redis.url,
      keyPrefix: `job-restart-${at.replace(/\W+/g, '-')}:`,
      onConnectionChange: null,
      reconnectMaxDelayMs: 50,
    });
    const held = gate();
    let jobId = '';
    const refused: string[] = [];
    server = await startServer({
      store,
      retryMs: 10,
      heartbeatMs: 200,
      settleRetryMs: 10_000,
      jobs: {
        work: async (ctx: { id: string; progress(d: unknown): Promise<void> }) => {
          jobId = ctx.id;
          for (let i = 0; i < STEPS; i++) {
            if (at !== 'settle' && i === STEPS / 2) await held.wait();
            try {
              await ctx.progress({ i });
            } catch (error) {
              refused.push((error as { code?: string }).code ?? String(error));
              if (at === 'progress, uncaught') throw error;
            }
            await sleep(20);
          }
          if (at === 'settle') await held.wait();
          return { steps: STEPS };
        },
      },
    });
    // Redis stops with the job held; the job goes on while it is down, then it comes back.
    const restarted = held.arrived.then(async () => {
      await redis!.stop({ save: true });
      held.open();
      await sleep(300);
      await redis!.start();
    });
    const conn = connect(`${server.base}/jobs/work`, testOptions({ body: {} }));
    const seen: number[] = [];
    for await (const e of conn) seen.push((JSON.parse(e.data) as { i: number }).i);
    const outcome = await conn.result.then(
      (result) => ({ result }),
      (error: { code?: string; job?: { code: string } }) => ({
        code: error.code,
        job: error.job?.code,
      }),
    );
    await restarted;

    const log = (await store.read(jobId, null))!.events;
    const stored = log.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data).i);
    // The reader got exactly what the store kept, once each, in order.
    expect(seen).toEqual(stored);
    expect(log.filter((e) => e.event.startsWith('outlast.'))).toHaveLength(1);
    const record = await store.getJob(jobId);
    if (at === 'progress, uncaught') {
      expect(refused).toEqual(['store-unavailable']);
      expect(stored).toEqual([0, 1, 2]);
      // The client's code is job-failed; what the server told (the record's) is kept beside it.
      expect(outcome).toEqual({ code: 'job-failed', job: 'store-unavailable' });
      expect(record).toMatchObject({ state: 'failed', error: { code: 'store-unavailable' } });
      expect(log.at(-1)!.event).toBe('outlast.error');
    } else {
      // A caught refusal loses that one event (the job chose to go on); nothing else is lost.
      if (at === 'settle') expect(refused).toEqual([]);
      else expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(stored).toHaveLength(STEPS - refused.length);
      expect(outcome).toEqual({ result: { steps: STEPS } });
      expect(record).toMatchObject({ state: 'succeeded', result: { steps: STEPS } });
      expect(log.at(-1)!.event).toBe('outlast.result');
    }
  }, 30_000);
});
