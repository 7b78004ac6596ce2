import { afterEach, describe, expect, it } from 'vitest';
import { OutlastError } from '../../src/errors.js';
import type { ServerOptions } from '../../src/server/index.js';
import { createMemoryStore } from '../../src/store/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { type FaultPlan, faultyStore } from '../helpers/faulty-store.js';
import { closeIdle, sleep, startServer, type TestServer } from '../helpers/server.js';

/*
 * The job lifecycle under store faults and hostile job functions: every started job settles
 * exactly once, its stream ends, and its record says what its readers saw.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

async function withFaults(plan: FaultPlan, options: ServerOptions = {}) {
  const faulty = faultyStore(createMemoryStore());
  faulty.plan(plan);
  const errors: unknown[] = [];
  server = await startServer({
    store: faulty.store,
    onError: (error) => errors.push(error),
    ...options,
  });
  return { faulty, errors, s: server };
}

/** The runner's counts (what `outlast.stats()` reports). */
const runner = (s: TestServer) =>
  (s.outlast as unknown as { core: { jobs: { size: number; pendingSettles: number } } }).core.jobs;

const getJob = async (s: TestServer, id: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${s.base}/jobs/${id}`, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** Reads the job's whole stream over SSE and checks it against the record. */
async function finalSeen(s: TestServer, id: string) {
  const conn = connect('sse', s.base, id);
  const finish = await conn.finished;
  expect(finish.how).toBe('end');
  const final = eventsOf(conn.messages).at(-1)!;
  const record = (await getJob(s, id)).body;
  if (final.event === 'outlast.result') {
    expect(record.state).toBe('succeeded');
    expect(JSON.parse(final.data)).toEqual({ result: record.result });
  } else {
    expect(final.event).toBe('outlast.error');
    expect(JSON.parse(final.data)).toEqual(record.error);
  }
  return { final, record };
}

describe('settling', () => {
  it('retries a settle the store refuses, until the record and the final event are stored', async () => {
    const { s, errors } = await withFaults((method, nth) =>
      method === 'settleJob' && nth <= 3 ? { fail: true } : null,
    );
    const job = await s.outlast.startJob(async () => ({ pages: 3 }));
    expect(await job.settled).toMatchObject({ state: 'succeeded', result: { pages: 3 } });
    const { record } = await finalSeen(s, job.id);
    expect(record.state).toBe('succeeded');
    // The store failure is reported once, not once per attempt.
    expect(errors.filter((e) => (e as Error).message.includes('settleJob'))).toHaveLength(1);
    expect(runner(s).pendingSettles).toBe(0);
  });

  it('retries through a store that pauses at settle, and readers see the end', async () => {
    const { s } = await withFaults((method, nth) =>
      method === 'settleJob' && nth === 1 ? { pauseMs: 800 } : null,
    );
    const job = await s.outlast.startJob(async () => 'done');
    const reader = connect('sse', s.base, job.id);
    expect((await reader.finished).how).toBe('end');
    expect(eventsOf(reader.messages).at(-1)).toMatchObject({ event: 'outlast.result' });
    expect((await job.settled).state).toBe('succeeded');
  });

  it('gives a job up as lost once settleRetryMs has passed, and its readers are told', async () => {
    const { s } = await withFaults((method) => (method === 'settleJob' ? { fail: true } : null), {
      settleRetryMs: 300,
    });
    const job = await s.outlast.startJob(async () => 'never stored');
    expect(await job.settled).toMatchObject({ state: 'lost', error: { code: 'job-lost' } });
    const { final, record } = await finalSeen(s, job.id);
    expect(record.state).toBe('lost');
    expect(JSON.parse(final.data)).toMatchObject({ code: 'job-lost' });
  });

  it('holds the idempotency key of a job running longer than resultTtlMs', async () => {
    const { s } = await withFaults(() => null, { resultTtlMs: 150 });
    let ran = 0;
    const work = async (ctx: { signal: AbortSignal }) => {
      ran++;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 700);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(null);
        });
      });
      return ran;
    };
    const first = await s.outlast.startJob(work, { idempotencyKey: 'long', name: 'w' });
    // Well past resultTtlMs, the job still running: a retried start must find it.
    await sleep(500);
    const again = await s.outlast.startJob(work, { idempotencyKey: 'long', name: 'w' });
    expect(again).toMatchObject({ id: first.id, created: false });
    expect(await first.settled).toMatchObject({ state: 'succeeded', result: 1 });
    expect(ran).toBe(1);
    // After the settle the key is kept resultTtlMs, then let go.
    await sleep(400);
    const later = await s.outlast.startJob(work, { idempotencyKey: 'long', name: 'w' });
    expect(later.created).toBe(true);
    await later.cancel();
  });

  it('lets a start with the key of a lost job run the work again', async () => {
    let failing = true;
    const { s } = await withFaults(
      (method) => (method === 'settleJob' && failing ? { fail: true } : null),
      { settleRetryMs: 100 },
    );
    let ran = 0;
    const work = async () => ++ran;
    const first = await s.outlast.startJob(work, { idempotencyKey: 'k', name: 'w' });
    expect((await first.settled).state).toBe('lost');
    failing = false;
    const again = await s.outlast.startJob(work, { idempotencyKey: 'k', name: 'w' });
    expect(again.created).toBe(true);
    expect(again.id).not.toBe(first.id);
    expect(await again.settled).toMatchObject({ state: 'succeeded', result: 2 });
    const replay = await s.outlast.startJob(work, { idempotencyKey: 'k', name: 'w' });
    expect(replay).toMatchObject({ id: again.id, created: false });
    expect((await replay.settled).state).toBe('succeeded');
    expect(ran).toBe(2);
  });

  it('settles exactly once when cancel, failure and success race', async () => {
    const { s } = await withFaults((method) => (method === 'settleJob' ? { pauseMs: 50 } : null));
    const job = await s.outlast.startJob(async (ctx) => {
      await sleep(20);
      void ctx.progress('x');
      throw new Error('late failure');
    });
    const cancels = await Promise.all([
      job.cancel('a'),
      job.cancel('b'),
      s.outlast.cancelJob(job.id),
    ]);
    expect(cancels.filter(Boolean)).toHaveLength(1);
    const record = await job.settled;
    expect(record.state).toBe('cancelled');
    await sleep(100);
    const events = (await s.outlast.store.read(job.id, null))!.events;
    expect(events.filter((e) => e.event.startsWith('outlast.'))).toHaveLength(1);
    expect((await getJob(s, job.id)).body.state).toBe('cancelled');
  });
});

describe('results JSON cannot encode', () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  it.each([
    ['a BigInt', () => 10n],
    ['a cycle', () => cycle],
    ['a function', () => () => 1],
    ['a BigInt deep inside', () => ({ rows: [{ n: 1n }] })],
  ])('fails the job with job-result-unencodable for %s', async (_, result) => {
    const { s, errors } = await withFaults(() => null);
    const job = await s.outlast.startJob(async () => result());
    expect(await job.settled).toMatchObject({
      state: 'failed',
      error: { code: 'job-result-unencodable' },
    });
    const { final } = await finalSeen(s, job.id);
    expect(JSON.parse(final.data)).toMatchObject({ code: 'job-result-unencodable' });
    expect(errors).toHaveLength(1);
  });

  it('records a result as readers see it (a Date becomes its JSON text)', async () => {
    const { s } = await withFaults(() => null);
    const at = new Date(0);
    const job = await s.outlast.startJob(async () => ({ at, skip: undefined }));
    expect((await job.settled).result).toEqual({ at: at.toJSON() });
    await finalSeen(s, job.id);
  });
});

describe('maxRunningJobs', () => {
  it('reserves a slot before any await: 10 concurrent starts under a limit of 2, 2 run', async () => {
    let ran = 0;
    const { s } = await withFaults(
      // Every start's first store write is slow: the window the limit must not leak through.
      (method) => (method === 'createJob' || method === 'create' ? { pauseMs: 100 } : null),
      {
        maxRunningJobs: 2,
        jobs: {
          slow: async () => {
            ran++;
            await sleep(400);
          },
        },
      },
    );
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${s.base}/jobs/slow`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 202, 503, 503, 503, 503, 503, 503, 503, 503]);
    for (const res of answers) await res.arrayBuffer();
    await sleep(50);
    expect(ran).toBe(2);
    expect(runner(s).size).toBe(2);
  });

  it('counts a cancelled job that ignores its signal until its function returns', async () => {
    const { s } = await withFaults(() => null, { maxRunningJobs: 1 });
    let returned = false;
    const stubborn = await s.outlast.startJob(async () => {
      await sleep(400);
      returned = true;
    });
    expect(await stubborn.cancel('stop')).toBe(true);
    expect((await stubborn.settled).state).toBe('cancelled');
    await expect(s.outlast.startJob(() => 1)).rejects.toMatchObject({ code: 'overloaded' });
    const deadline = Date.now() + 5000;
    while (!returned && Date.now() < deadline) await sleep(20);
    await sleep(20);
    expect(runner(s).size).toBe(0);
    expect((await (await s.outlast.startJob(() => 1)).settled).state).toBe('succeeded');
  });

  it('frees the slot of a start the store refused', async () => {
    const { s } = await withFaults(
      (method, nth) => (method === 'createJob' && nth === 1 ? { fail: true } : null),
      { maxRunningJobs: 1 },
    );
    await expect(s.outlast.startJob(() => 1)).rejects.toMatchObject({ code: 'store-unavailable' });
    expect(runner(s).size).toBe(0);
    expect((await (await s.outlast.startJob(() => 1)).settled).state).toBe('succeeded');
  });
});

describe('errors readers see', () => {
  it('hides the message of an ordinary error: job-failed, a generic message, the detail to onError', async () => {
    const { s, errors } = await withFaults(() => null);
    const secret = new Error('connect ECONNREFUSED db.internal:5432 password=hunter2');
    const job = await s.outlast.startJob(async () => {
      throw secret;
    });
    const record = await job.settled;
    expect(record.error).toEqual({
      code: 'job-failed',
      message: 'the job failed; the server recorded the cause',
    });
    const { final } = await finalSeen(s, job.id);
    expect(final.data).not.toContain('hunter2');
    expect(errors).toContain(secret);
  });

  it('passes an OutlastError and an error marked expose with a code on verbatim', async () => {
    const { s, errors } = await withFaults(() => null);
    const a = await s.outlast.startJob(async () => {
      throw new OutlastError('job-failed', 'page 7 unreadable');
    });
    expect((await a.settled).error).toEqual({ code: 'job-failed', message: 'page 7 unreadable' });
    const b = await s.outlast.startJob(async () => {
      throw Object.assign(new Error('you have used 100 of 100 pages'), {
        code: 'quota-exceeded',
        expose: true,
      });
    });
    expect((await b.settled).error).toEqual({
      code: 'quota-exceeded',
      message: 'you have used 100 of 100 pages',
    });
    await finalSeen(s, b.id);
    // A code that is not a plain word list is not trusted.
    const c = await s.outlast.startJob(async () => {
      throw Object.assign(new Error('x'), { code: 'Bad Code\n', expose: true });
    });
    expect((await c.settled).error?.code).toBe('job-failed');
    expect(errors).toHaveLength(1);
  });

  it('hides a thrown non-error (a string, an object)', async () => {
    const { s } = await withFaults(() => null);
    const job = await s.outlast.startJob(async () => {
      throw { token: 'abc' };
    });
    expect((await job.settled).error?.message).toBe(
      'the job failed; the server recorded the cause',
    );
  });
});
