import type { ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type CutReport, connect, type ReconnectNotice } from '../../src/client/index.js';
import { closeFixtures, httpFixture, startTestServer, testOptions } from './helpers.js';

/*
 * A job's result never settles `undefined` and a job never waits in silence. A fixture plays
 * the outlast job routes byte for byte, so each answer of each request is the test's.
 */

afterEach(async () => {
  await closeFixtures();
});

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

/** Job routes: the POST starts `j1`; `events` and `record` answer each request in turn. */
async function jobFixture(
  events: (res: ServerResponse) => void,
  records: Array<(res: ServerResponse) => void>,
) {
  const seen: string[] = [];
  const origin = await httpFixture((req, res) => {
    seen.push(`${req.method} ${req.url!.split('?')[0]}`);
    if (req.method === 'POST') {
      json(res, 202, {
        jobId: 'j1',
        stream: '/outlast/jobs/j1/events',
        result: '/outlast/jobs/j1',
      });
    } else if (req.url!.startsWith('/outlast/jobs/j1/events')) events(res);
    else (records.shift() ?? ((r) => json(r, 500, {})))(res);
  });
  return { url: `${origin}/outlast/jobs/work`, seen };
}

const gateway502 = (res: ServerResponse) =>
  res.writeHead(502, { 'content-type': 'text/html', server: 'awselb/2.0' }).end('<h1>502</h1>');
const running = (res: ServerResponse) => json(res, 200, { state: 'running' });
const succeeded = (res: ServerResponse) => json(res, 200, { state: 'succeeded', result: 42 });
const unknownStream = (res: ServerResponse) =>
  json(res, 404, { error: { code: 'unknown-stream', message: 'no such stream' } });

describe('a job result is never undefined', () => {
  it('a 404 on the stream while the job still runs, then 502s on the result GET: retried until the record settles', async () => {
    const { url, seen } = await jobFixture(unknownStream, [
      gateway502,
      running,
      gateway502,
      running,
      succeeded,
    ]);
    const conn = connect(url, testOptions({ body: { n: 1 }, transports: ['sse'] }));
    await expect(conn.result).resolves.toBe(42);
    expect(seen.filter((s) => s === 'GET /outlast/jobs/j1')).toHaveLength(5);
  });

  it('a stream that ends without the final event while the record still says running waits for the record', async () => {
    const ended = (res: ServerResponse) =>
      res
        .writeHead(200, { 'content-type': 'text/event-stream', 'outlast-heartbeat': '1000' })
        .end(
          'event: outlast.open\ndata: {"heartbeatMs":1000,"resume":"fresh"}\n\nevent: outlast.end\ndata: {}\n\n',
        );
    const { url } = await jobFixture(ended, [running, running, succeeded]);
    const conn = connect(url, testOptions({ body: {}, transports: ['sse'] }));
    await expect(conn.result).resolves.toBe(42);
  });

  it('a 404 on the record is the definitive unknown-job', async () => {
    const { url } = await jobFixture(unknownStream, [
      gateway502,
      (res) => json(res, 404, { error: { code: 'unknown-job', message: 'no such job' } }),
    ]);
    const conn = connect(url, testOptions({ body: {}, transports: ['sse'] }));
    await expect(conn.result).rejects.toMatchObject({ code: 'unknown-job' });
  });

  it('close() stops the record wait at once (no timer left behind)', async () => {
    const { url, seen } = await jobFixture(unknownStream, Array(50).fill(running));
    const conn = connect(
      url,
      testOptions({ body: {}, transports: ['sse'], initialDelayMs: 5_000, maxDelayMs: 5_000 }),
    );
    while (!seen.includes('GET /outlast/jobs/j1')) await new Promise((r) => setTimeout(r, 10));
    conn.close();
    await expect(conn.result).rejects.toMatchObject({ code: 'client-closed' });
  });
});

describe('starting a job', () => {
  it('a POST to an address where nothing listens: one reconnecting event per attempt, then job-start-failed', async () => {
    // A port that was just free: nothing listens there.
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const conn = connect(
      `http://127.0.0.1:${port}/outlast/jobs/ocr`,
      testOptions({ body: {}, maxStartAttempts: 4 }),
    );
    const retries: ReconnectNotice[] = [];
    conn.on('reconnecting', (r) => retries.push(r));
    await expect(conn.done).rejects.toMatchObject({
      code: 'job-start-failed',
      message: expect.stringMatching(/4 attempts.*ECONNREFUSED/),
    });
    expect(retries.map((r) => [r.cause, r.attempt])).toEqual([
      ['network-error', 1],
      ['network-error', 2],
      ['network-error', 3],
    ]);
  });
});

describe('who answered an error', () => {
  it('a 404 from the outlast server itself is server-error, not intermediary-error', async () => {
    const server = await startTestServer();
    try {
      const conn = connect(`${server.base}/streams/none`, testOptions({ transports: ['sse'] }));
      const cuts: CutReport[] = [];
      conn.on('cut', (c) => cuts.push(c));
      await expect(conn.done).rejects.toMatchObject({ code: 'unknown-stream' });
      expect(cuts.map((c) => [c.cause, c.status])).toEqual([['server-error', 404]]);
    } finally {
      await server.close();
    }
  });

  it("an intermediary's own 404 page is still intermediary-error", async () => {
    const origin = await httpFixture((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/html', server: 'nginx' }).end('<h1>404</h1>'),
    );
    const conn = connect(`${origin}/outlast/streams/s`, testOptions({ transports: ['sse'] }));
    const cuts: CutReport[] = [];
    conn.on('cut', (c) => cuts.push(c));
    await expect(conn.done).rejects.toMatchObject({ code: 'unknown-stream' });
    expect(cuts.map((c) => [c.cause, c.server])).toEqual([['intermediary-error', 'nginx']]);
  });
});
