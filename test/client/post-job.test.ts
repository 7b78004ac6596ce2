import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import type { TestServer } from '../helpers/server.js';
import {
  closeFixtures,
  collect,
  httpFixture,
  sleep,
  startTestServer,
  testOptions,
} from './helpers.js';

/*
 * `method: 'POST'` reads the response to a POST as an SSE stream (LLM APIs); an outlast job
 * route answers a POST with `202 {"jobId","stream"}` instead. The 202 tells them apart: such
 * an answer is followed as the job (its stream, then its result), unless `job: false` says
 * the URL is no job route (a typed error then). A job start (`body` without `method`) that is
 * answered with an event stream fails at once with the hint, without reading the stream.
 */

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
  await closeFixtures();
});

/** A server with one job, `steps`, that reports `n` steps and returns their count. */
async function jobServer() {
  let started = 0;
  server = await startTestServer({
    jobs: {
      steps: async (ctx: { input: { n: number }; progress(d: unknown): Promise<void> }) => {
        started++;
        for (let i = 0; i < ctx.input.n; i++) {
          await ctx.progress({ i });
          await sleep(10);
        }
        return { steps: ctx.input.n };
      },
    },
  });
  return { server, started: () => started };
}

describe("method: 'POST' at an outlast job route", () => {
  it('the 202 job start is followed as the job: its events once each, then its result', async () => {
    const { server, started } = await jobServer();
    const posts: string[] = [];
    const counting: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (request.method === 'POST') posts.push(new URL(request.url).pathname);
      return fetch(request);
    };
    const conn = connect(
      `${server.base}/jobs/steps`,
      testOptions({ method: 'POST', body: { n: 5 }, fetch: counting }),
    );
    const got = await collect(conn);
    expect(got.map((e) => JSON.parse(e.data).i)).toEqual([0, 1, 2, 3, 4]);
    expect(await conn.result).toEqual({ steps: 5 });
    expect(conn.url).toMatch(/\/jobs\/[^/]+\/events$/);
    // One POST, one job: the 202 was not taken for a failed stream, nothing was re-sent.
    expect(posts).toEqual(['/outlast/jobs/steps']);
    expect(started()).toBe(1);
  });

  it('follows it over the transports the user chose (a POST stream alone is SSE only)', async () => {
    const { server } = await jobServer();
    const conn = connect(
      `${server.base}/jobs/steps`,
      testOptions({ method: 'POST', body: { n: 2 }, transports: ['ws', 'sse'] }),
    );
    const opens: string[] = [];
    conn.on('open', (o) => opens.push(o.transport));
    await collect(conn);
    expect(await conn.result).toEqual({ steps: 2 });
    expect(opens[0]).toBe('ws');
  });

  it('with job: false, the job start is a typed error that says how to follow it', async () => {
    const { server, started } = await jobServer();
    const conn = connect(
      `${server.base}/jobs/steps`,
      testOptions({ method: 'POST', body: { n: 1 }, job: false }),
    );
    const error = await conn.done.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'unexpected-response' });
    expect(String((error as Error).message)).toMatch(/202 .*outlast job .*job: false/);
    expect(started()).toBe(1);
  });

  it('a 202 that is not an outlast job start stays a failed POST stream, sent once', async () => {
    let posts = 0;
    const origin = await httpFixture((_req, res) => {
      posts++;
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"queued":true}');
    });
    const conn = connect(`${origin}/v1/x`, testOptions({ method: 'POST', body: {} }));
    await expect(conn.done).rejects.toMatchObject({ code: 'stream-interrupted' });
    expect(posts).toBe(1);
  });
});

describe('a job start answered with an event stream', () => {
  /** An endless POST stream (it never ends by itself). */
  async function endlessStream() {
    let posts = 0;
    const origin = await httpFixture((_req, res) => {
      posts++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: token\n\n');
      const timer = setInterval(() => res.write('data: token\n\n'), 20);
      res.on('close', () => clearInterval(timer));
    });
    return { url: `${origin}/v1/chat/completions`, posts: () => posts };
  }

  it('fails at once with unexpected-response and the hint, without reading the stream', async () => {
    const llm = await endlessStream();
    const started = Date.now();
    const conn = connect(llm.url, testOptions({ body: { stream: true } }));
    const error = await conn.done.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'unexpected-response' });
    expect(String((error as Error).message)).toContain("pass method: 'POST'");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(llm.posts()).toBe(1);
  });

  it("the same endpoint with method: 'POST' streams", async () => {
    const llm = await endlessStream();
    const conn = connect(llm.url, testOptions({ method: 'POST', body: { stream: true } }));
    const got: string[] = [];
    for await (const e of conn) {
      got.push(e.data);
      if (got.length === 3) break;
    }
    expect(got).toEqual(['token', 'token', 'token']);
  });
});
