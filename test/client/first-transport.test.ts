import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TransportName } from '../../src/client/index.js';
import type { TestServer } from '../helpers/server.js';
import { collect, publishSeries, startTestServer, testOptions } from './helpers.js';

/*
 * The first connection uses the first transport of `transports` on an outlast route: the
 * order is the user's, not "SSE until the server is known".
 */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('the first connection follows the transport order', () => {
  it.each<[TransportName[], TransportName]>([
    [['ws', 'sse'], 'ws'],
    [['poll', 'sse'], 'poll'],
    [['sse', 'ws'], 'sse'],
  ])('%j starts on %s', async (transports, first) => {
    const id = `first-${transports.join('-')}`;
    const conn = connect(`${server.base}/streams/${id}`, testOptions({ transports }));
    const opened: TransportName[] = [];
    conn.on('open', (o) => opened.push(o.transport));
    const [events] = await Promise.all([collect(conn), publishSeries(server, id, 3, 20)]);
    expect(events.map((e) => e.data)).toEqual(['{"i":0}', '{"i":1}', '{"i":2}']);
    expect(opened[0]).toBe(first);
  });

  it("a job started with transports ['ws', 'sse'] reads its stream over ws from the start", async () => {
    const jobs = await startTestServer({
      jobs: {
        quick: async ({ progress }) => {
          await progress({ step: 1 });
          return 'done';
        },
      },
    });
    try {
      const conn = connect(
        `${jobs.base}/jobs/quick`,
        testOptions({ body: {}, transports: ['ws', 'sse'] }),
      );
      const opened: TransportName[] = [];
      conn.on('open', (o) => opened.push(o.transport));
      await collect(conn);
      expect(await conn.result).toBe('done');
      expect(opened[0]).toBe('ws');
    } finally {
      await jobs.close();
    }
  });
});
