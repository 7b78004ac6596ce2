import { afterEach, describe, expect, it } from 'vitest';
import { connect, JobFailedError } from '../../src/client/index.js';
import { fromRecord, parseFinal } from '../../src/client/job.js';
import { JobError } from '../../src/server/index.js';
import { closeIdle, type TestServer } from '../helpers/server.js';
import { startTestServer, testOptions } from './helpers.js';

/*
 * How a job that did not succeed reaches the app: `result` rejects with a JobFailedError
 * whose code is one of the four the client knows, and whose `job` is what the server said
 * (the job's own code and details), whether the client read the final event or the record.
 */

let server: TestServer | undefined;
afterEach(async () => {
  await closeIdle(server);
  server = undefined;
});

async function failure(run: Promise<unknown>): Promise<JobFailedError> {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JobFailedError);
  return error as JobFailedError;
}

describe('a job that did not succeed', () => {
  it("keeps the job's own code and details beside job-failed", async () => {
    server = await startTestServer({
      jobs: {
        quota: async () => {
          throw new JobError('quota-exceeded', 'you have used 100 of 100 pages', { limit: 100 });
        },
      },
    });
    const conn = connect(`${server.base}/jobs/quota`, testOptions({ body: {} }));
    const error = await failure(conn.result);
    expect(error.code).toBe('job-failed');
    expect(error.message).toBe('you have used 100 of 100 pages');
    expect(error.job).toEqual({
      code: 'quota-exceeded',
      message: 'you have used 100 of 100 pages',
      limit: 100,
    });
    expect((await conn.done).error).toBe(error);
  });

  it('tells job-interrupted (a drain ended it; safe to start again) from a failure', () => {
    const told = {
      code: 'job-interrupted',
      message: 'job interrupted: draining; safe to start again',
    };
    const error = parseFinal('outlast.error', JSON.stringify(told)).error as JobFailedError;
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.code).toBe('job-interrupted');
    expect(error.job).toEqual(told);
    // Garbage in a final event is still a failure with a message, never a crash.
    const garbage = parseFinal('outlast.error', '{"code":7}').error as JobFailedError;
    expect(garbage.code).toBe('job-failed');
    expect(garbage.job.code).toBe('job-failed');
  });

  it('gives the same error from a settled record (the final event missed)', () => {
    const failed = fromRecord({
      state: 'failed',
      error: { code: 'quota-exceeded', message: 'no pages left', limit: 3 },
    }).error as JobFailedError;
    expect(failed).toBeInstanceOf(JobFailedError);
    expect(failed.code).toBe('job-failed');
    expect(failed.job).toEqual({ code: 'quota-exceeded', message: 'no pages left', limit: 3 });
    const lost = fromRecord({ state: 'lost' }).error as JobFailedError;
    expect(lost.code).toBe('job-lost');
    expect(
      fromRecord({ state: 'cancelled', error: { code: 'job-cancelled', message: 'by user' } }).error
        ?.code,
    ).toBe('job-cancelled');
  });
});
