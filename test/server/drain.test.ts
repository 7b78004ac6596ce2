import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../helpers/clients.js';
import {
  closeIdle,
  expectIdle,
  sleep,
  startServer,
  type TestServer,
  until,
} from '../helpers/server.js';

/*
 * outlast.drain(): what a deploy needs. New starts are refused with 503 and Retry-After,
 * every streaming reader is told to reconnect now, held polls are answered now, running jobs
 * may finish until the deadline and then end with job-interrupted, never cancelled.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

describe('drain', () => {
  it('rotates every SSE and WebSocket reader, answers held polls now, refuses new readers', async () => {
    server = await startServer();
    await server.outlast.publish('s', { data: 'a' });
    const head = (await server.outlast.store.info('s'))!.lastId;
    const sse = connect('sse', server.base, 's');
    const ws = connect('ws', server.base, 's');
    const poll = connect('poll', server.base, 's', { lastEventId: head, query: { wait: '10000' } });
    await until(() => server!.outlast.stats().connections.poll === 1, 'the poll to be held');
    await until(() => server!.outlast.stats().sessions === 2, 'both streams to open');
    const started = Date.now();
    const report = await server.outlast.drain({ deadlineMs: 1_000 });
    expect(report).toMatchObject({ rotated: 2, polls: 1, jobsFinished: 0, jobsInterrupted: 0 });
    expect((await sse.finished).how).toBe('rotate');
    expect((await ws.finished).how).toBe('rotate');
    // The held poll came back now, not after its 10 s wait; its next poll is refused.
    const pollFinish = await poll.finished;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(pollFinish.status).toBe(503);
    const late = await connect('sse', server.base, 's').finished;
    expect(late.status).toBe(503);
    expect(JSON.parse(late.body!).error.code).toBe('draining');
    await expectIdle(server.outlast);
  });

  it('refuses new job starts with 503 and Retry-After', async () => {
    server = await startServer({ jobs: { quick: () => 1 } });
    await server.outlast.drain({ deadlineMs: 0 });
    const res = await fetch(`${server.base}/jobs/quick`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('draining');
  });

  it('lets running jobs finish until the deadline, then ends the rest with job-interrupted', async () => {
    let sawAbort: unknown;
    server = await startServer({
      jobs: {
        short: async () => {
          await sleep(150);
          return 'finished';
        },
        long: async (ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          sawAbort = ctx.signal.reason;
          return 'too late';
        },
      },
    });
    const start = async (name: string) => {
      const res = await fetch(`${server!.base}/jobs/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      return ((await res.json()) as { jobId: string }).jobId;
    };
    const short = await start('short');
    const long = await start('long');
    const reader = connect('sse', server.base, long);
    await until(() => server!.outlast.stats().sessions === 1, 'the reader');
    const started = Date.now();
    const report = await server.outlast.drain({ deadlineMs: 400 });
    const took = Date.now() - started;
    expect(report).toMatchObject({ jobsFinished: 1, jobsInterrupted: 1 });
    expect(took).toBeGreaterThanOrEqual(380);
    expect(took).toBeLessThan(1_500);
    expect((await server.outlast.getJob(short))!.state).toBe('succeeded');
    const record = (await server.outlast.getJob(long))!;
    expect(record.state).toBe('failed');
    expect(record.error!.code).toBe('job-interrupted');
    expect((sawAbort as { code?: string }).code).toBe('job-interrupted');
    // Its readers were rotated; a reader coming back (elsewhere) reads the ending.
    expect((await reader.finished).how).toBe('rotate');
    const events = await server.outlast.store.read(long, null);
    const final = events!.events.at(-1)!;
    expect(final.event).toBe('outlast.error');
    expect(JSON.parse(final.data).code).toBe('job-interrupted');
    await expectIdle(server.outlast);
  });
});
