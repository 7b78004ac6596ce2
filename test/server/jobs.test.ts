import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import {
  closeIdle,
  inProcessOnly,
  sleep,
  startServer,
  type TestServer,
  until,
} from '../helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

const getJob = async (s: TestServer, id: string) =>
  (await (await fetch(`${s.base}/jobs/${id}`)).json()) as Record<string, unknown>;

// These hand the job state of the test process (a variable, an AbortSignal, the Node server).
const inProcess = inProcessOnly('the job shares state with the test process');

describe('jobs', () => {
  it('gives ids of 128 random bits in base64url, all different', async () => {
    server = await startServer();
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) ids.add((await server.outlast.startJob(() => i)).id);
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('stores the result and serves it with a plain GET', async () => {
    server = await startServer();
    const job = await server.outlast.startJob(async (ctx) => {
      await ctx.progress({ step: 1 });
      return { pages: 3 };
    });
    expect((await job.settled).state).toBe('succeeded');
    expect(await getJob(server, job.id)).toMatchObject({
      id: job.id,
      state: 'succeeded',
      result: { pages: 3 },
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
    });
  });

  it('records a failure with code and message, and ends the stream with outlast.error', async () => {
    server = await startServer();
    const job = await server.outlast.startJob(async () => {
      // Public (expose with a code): its message reaches readers. Plain text, not an
      // OutlastError, so the function also runs as source in other runtimes.
      throw Object.assign(new Error('page 7 unreadable'), { code: 'job-failed', expose: true });
    });
    await job.settled;
    expect(await getJob(server, job.id)).toMatchObject({
      state: 'failed',
      error: { code: 'job-failed', message: 'page 7 unreadable' },
    });
    const conn = connect('sse', server.base, job.id);
    await conn.finished;
    expect(eventsOf(conn.messages).at(-1)).toMatchObject({
      event: 'outlast.error',
      data: JSON.stringify({ code: 'job-failed', message: 'page 7 unreadable' }),
    });
  });

  inProcess('cancels by DELETE: 202, state cancelled, signal aborted, stream ended', async () => {
    server = await startServer();
    let aborted = false;
    const job = await server.outlast.startJob(async (ctx) => {
      // Ends when cancelled: a job that ignored its signal would still count as running.
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        }),
      );
    });
    const conn = connect('sse', server.base, job.id);
    await conn.waitFor((m) => m.type === 'open');
    const res = await fetch(`${server.base}/jobs/${job.id}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { state: string }).state).toBe('cancelled');
    expect(aborted).toBe(true);
    expect((await conn.finished).how).toBe('end');
    expect(JSON.parse(eventsOf(conn.messages).at(-1)!.data)).toMatchObject({
      code: 'job-cancelled',
    });
  });

  it('answers DELETE of a settled job 200 with its record, of an unknown job 404', async () => {
    server = await startServer();
    const job = await server.outlast.startJob(() => 'done');
    await job.settled;
    const res = await fetch(`${server.base}/jobs/${job.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: job.id, state: 'succeeded', result: 'done' });
    expect(await server.outlast.cancelJob(job.id)).toBe(false);
    const again = await fetch(`${server.base}/jobs/${job.id}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    const unknown = await fetch(`${server.base}/jobs/AAAAAAAAAAAAAAAAAAAAAA`, { method: 'DELETE' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'unknown-job' } });
    expect(await server.outlast.cancelJob('AAAAAAAAAAAAAAAAAAAAAA')).toBe(false);
  });

  inProcess(
    'cancels a job started by another server on the same store, through the store',
    async () => {
      server = await startServer();
      const other = await startServer({ store: server.outlast.store });
      try {
        let reason: unknown;
        const job = await server.outlast.startJob(async (ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          reason = ctx.signal.reason;
        });
        const conn = connect('sse', other.base, job.id);
        await conn.waitFor((m) => m.type === 'open');
        const res = await fetch(`${other.base}/jobs/${job.id}`, { method: 'DELETE' });
        expect(res.status).toBe(202);
        expect((await job.settled).state).toBe('cancelled');
        expect(reason).toMatchObject({ code: 'job-cancelled' });
        expect((await conn.finished).how).toBe('end');
        expect(JSON.parse(eventsOf(conn.messages).at(-1)!.data)).toMatchObject({
          code: 'job-cancelled',
        });
        expect(await getJob(other, job.id)).toMatchObject({ state: 'cancelled' });
        const late = await server.outlast.startJob(
          (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
        );
        expect(await other.outlast.cancelJob(late.id, 'no longer needed')).toBe(true);
        expect(await late.settled).toMatchObject({
          state: 'cancelled',
          error: { code: 'job-cancelled', message: 'job cancelled: no longer needed' },
        });
      } finally {
        // Closing `other` must leave the shared store (and `server`) working.
        await other.outlast.close();
        other.server.closeAllConnections();
        await new Promise<void>((resolve) => other.server.close(() => resolve()));
      }
    },
  );

  inProcess('cancels by AbortSignal, and ignores progress from a cancelled job', async () => {
    server = await startServer();
    const controller = new AbortController();
    let late: Promise<void> | undefined;
    const job = await server.outlast.startJob(
      async (ctx) => {
        await sleep(100);
        late = ctx.progress('too late');
      },
      { signal: controller.signal },
    );
    controller.abort('user left');
    expect((await job.settled).state).toBe('cancelled');
    await sleep(150);
    await late;
    const events = (await server.outlast.store.read(job.id, null))!.events;
    expect(events.map((e) => e.event)).toEqual(['outlast.error']);
  });

  it('forgets results after resultTtlMs', async () => {
    server = await startServer({
      resultTtlMs: 100,
      store: createMemoryStore({ sweepIntervalMs: null }),
    });
    const job = await server.outlast.startJob(() => 'ok');
    await job.settled;
    expect((await fetch(`${server.base}/jobs/${job.id}`)).status).toBe(200);
    await sleep(150);
    expect((await fetch(`${server.base}/jobs/${job.id}`)).status).toBe(404);
  });

  it('refuses new jobs past maxRunningJobs with 503', async () => {
    server = await startServer({ maxRunningJobs: 1, jobs: { slow: () => sleep(300) } });
    expect(
      (
        await fetch(`${server.base}/jobs/slow`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(202);
    const res = await fetch(`${server.base}/jobs/slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
  });

  it('keeps running when its only reader leaves, and its stream holds everything', async () => {
    server = await startServer();
    const job = await server.outlast.startJob(async (ctx) => {
      for (let i = 0; i < 4; i++) {
        await sleep(30);
        await ctx.progress(i);
      }
      return 'done';
    });
    const conn = connect('ws', server.base, job.id);
    await conn.waitFor((m) => m.type === 'open');
    conn.cut();
    await until(() => server!.outlast.connections === 0, 'the reader to leave');
    expect((await job.settled).state).toBe('succeeded');
    const replay = connect('poll', server.base, job.id);
    await replay.finished;
    expect(eventsOf(replay.messages).map((e) => e.data)).toEqual([
      '0',
      '1',
      '2',
      '3',
      '{"result":"done"}',
    ]);
  });
});
