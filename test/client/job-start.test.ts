import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import type { TestServer } from '../helpers/server.js';
import { collect, sleep, startTestServer, testOptions } from './helpers.js';

/*
 * The job-start POST retried after its answer was cut: the client sends one Idempotency-Key,
 * the same on every attempt, so the server runs the job once and the retry finds it.
 */

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe('starting a job', () => {
  it('sends one Idempotency-Key on every attempt; a cut answer does not run the job twice', async () => {
    let ran = 0;
    server = await startTestServer({
      jobs: {
        count: async () => {
          ran++;
          await sleep(50);
          return ran;
        },
      },
    });
    const keys: (string | null)[] = [];
    let attempts = 0;
    // The first POST reaches the server and starts the job; its answer is lost on the way back.
    const cutting: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (request.method !== 'POST') return fetch(request);
      keys.push(request.headers.get('idempotency-key'));
      const res = await fetch(request);
      if (attempts++ === 0) {
        await res.arrayBuffer();
        throw new TypeError('fetch failed: the connection was reset');
      }
      return res;
    };
    const conn = connect(
      `${server.base}/jobs/count`,
      testOptions({ transports: ['sse'], protocol: 'outlast', body: {}, fetch: cutting }),
    );
    await collect(conn);
    expect(await conn.result).toBe(1);
    expect(ran).toBe(1);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(keys[1]).toBe(keys[0]);
  });

  it('keeps a key the caller set itself', async () => {
    server = await startTestServer({ jobs: { one: () => 1 } });
    let sent: string | null = null;
    const spying: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (request.method === 'POST') sent = request.headers.get('idempotency-key');
      return fetch(request);
    };
    const conn = connect(
      `${server.base}/jobs/one`,
      testOptions({
        transports: ['sse'],
        protocol: 'outlast',
        body: {},
        fetch: spying,
        headers: { 'Idempotency-Key': 'order-42' },
      }),
    );
    await collect(conn);
    expect(await conn.result).toBe(1);
    expect(sent).toBe('order-42');
  });
});
