import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, connect } from '../../src/client/index.js';
import { OutlastError } from '../../src/errors.js';
import type { TestServer } from '../helpers/server.js';
import {
  collect,
  proxyFor,
  publishSeries,
  sleep,
  startTestServer,
  testOptions,
  until,
} from './helpers.js';

const transports = ['sse', 'ws', 'poll'] as const;

let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe.each(transports)('over %s against the outlast server', (transport) => {
  const opts = (extra = {}) =>
    testOptions({ transports: [transport], protocol: 'outlast', ...extra });

  it('reads a stream to its end, in order', async () => {
    server = await startTestServer();
    await server.outlast.publish('s', { data: 'first' });
    const conn = connect(`${server.base}/streams/s`, opts());
    const publishing = publishSeries(server, 's', 30, 2);
    const got = await collect(conn);
    const ids = await publishing;
    expect(got.map((e) => e.data)).toEqual(['first', ...ids.map((_, i) => JSON.stringify({ i }))]);
    expect(got.slice(1).map((e) => e.id)).toEqual(ids);
  });

  it('resumes with the last id after every server-side cut: nothing lost, nothing twice', async () => {
    server = await startTestServer();
    // Every exchange and tunnel through this hop dies 80 ms after it began.
    const proxy = await proxyFor(server, { knobs: { totalMs: 80, websocketTotalMs: 80 } });
    await server.outlast.publish('s', { data: 0 });
    const conn = connect(`${proxy.base}/streams/s`, opts({ learn: false }));
    const cuts: string[] = [];
    conn.on('cut', (c) => cuts.push(c.cause));
    const publishing = publishSeries(server, 's', 60, 5);
    const got = await collect(conn);
    const ids = await publishing;
    await proxy.close();
    expect(got.slice(1).map((e) => e.id)).toEqual(ids);
    // Polls are short exchanges (one per batch): the 80 ms clock rarely catches one.
    if (transport !== 'poll') expect(cuts.length).toBeGreaterThan(0);
  });

  it('starts a job with a POST body and resolves its result', async () => {
    server = await startTestServer({
      jobs: {
        double: async (ctx: { input: { n: number }; progress(d: unknown): Promise<void> }) => {
          for (let i = 0; i < 5; i++) {
            await ctx.progress({ step: i });
            await sleep(10);
          }
          return ctx.input.n * 2;
        },
      },
    });
    const conn = connect(`${server.base}/jobs/double`, opts({ body: { n: 21 } }));
    const got = await collect(conn);
    expect(got.map((e) => JSON.parse(e.data).step)).toEqual([0, 1, 2, 3, 4]);
    expect(await conn.result).toBe(42);
    expect(conn.url).toMatch(/\/jobs\/[\w-]+\/events$/);
  });

  it('rejects the result with job-failed when the job throws', async () => {
    server = await startTestServer({
      jobs: {
        boom: async () => {
          await sleep(20);
          // Public: an OutlastError reaches the client as is (other errors are hidden).
          throw new OutlastError('job-failed', 'bad page');
        },
      },
    });
    const conn = connect(`${server.base}/jobs/boom`, opts({ body: {} }));
    await collect(conn);
    await expect(conn.result).rejects.toMatchObject({ code: 'job-failed', message: 'bad page' });
  });

  it('fetches the job result when the final event was missed', async () => {
    server = await startTestServer();
    const job = await server.outlast.startJob(async (ctx) => {
      await ctx.progress('p');
      return 'done';
    });
    await job.settled;
    // The client already holds the final id: the stream answers 204 (SSE) or an empty end.
    const last = (await server.outlast.store.read(job.id, null, 100))!.events.at(-1)!.id;
    const conn = connect(`${server.base}/jobs/${job.id}/events`, opts({ lastEventId: last }));
    expect(await collect(conn)).toEqual([]);
    expect(await conn.result).toBe('done');
  });

  it('surfaces a gap when the id is unknown', async () => {
    server = await startTestServer();
    await server.outlast.publish('g', { data: 1 });
    await server.outlast.end('g');
    const conn = connect(`${server.base}/streams/g`, opts({ lastEventId: 'nope:1' }));
    const gaps: string[] = [];
    conn.on('gap', (g) => gaps.push(g.reason));
    const got = await collect(conn);
    expect(gaps).toEqual(['epoch']);
    expect(got.length).toBe(1);
  });

  it('stops with unknown-stream on 404', async () => {
    server = await startTestServer();
    const conn = connect(`${server.base}/streams/missing`, opts());
    const errors: string[] = [];
    conn.on('error', (e) => errors.push(e.code));
    if (transport === 'ws') {
      // A refused upgrade is a transport that cannot open: with WebSocket alone the client
      // keeps trying; the fallback tests cover the move to the next transport.
      conn.close();
      return;
    }
    await expect(collect(conn)).rejects.toMatchObject({ code: 'unknown-stream' });
    expect(errors).toEqual(['unknown-stream']);
  });
});

describe('status answers', () => {
  it.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
  ] as const)('%i stops with %s and never reconnects', async (status, code) => {
    server = await startTestServer({
      authorize: () => (status === 401 ? 'unauthorized' : 'forbidden'),
    });
    await server.outlast.publish('a', { data: 1 });
    let requests = 0;
    const conn = connect(
      `${server.base}/streams/a`,
      testOptions({
        fetch: (u, i) => {
          requests++;
          return fetch(u, i);
        },
      }),
    );
    await expect(conn.done).rejects.toMatchObject({ code });
    await sleep(100);
    expect(requests).toBe(1);
  });

  it('sends custom headers on every request', async () => {
    const seen: string[] = [];
    server = await startTestServer({
      authorize: (req) => {
        seen.push(req.headers.get('authorization') ?? '');
        return req.headers.get('authorization') === 'Bearer t';
      },
    });
    await server.outlast.publish('a', { data: 1 });
    await server.outlast.end('a');
    const conn = connect(
      `${server.base}/streams/a`,
      testOptions({ headers: { authorization: 'Bearer t' } }),
    );
    expect((await collect(conn)).length).toBe(1);
    expect(seen.every((h) => h === 'Bearer t')).toBe(true);
  });

  it('retries a 503 with backoff, honouring Retry-After', async () => {
    let n = 0;
    const times: number[] = [];
    const conn = connect('http://127.0.0.1:9/outlast/streams/x', {
      ...testOptions(),
      fetch: async () => {
        times.push(Date.now());
        if (++n < 3) return new Response('busy', { status: 503, headers: { 'retry-after': '0' } });
        return new Response(null, { status: 204 });
      },
    });
    const causes: string[] = [];
    conn.on('cut', (c) => causes.push(`${c.cause}:${c.status}`));
    await conn.done;
    expect(causes).toEqual([
      'intermediary-error:503',
      'intermediary-error:503',
      'intermediary-error:204',
    ]);
  });
});

describe('against a plain SSE server (not outlast)', () => {
  it('works as a resuming SSE client: Last-Event-ID, retry:, no outlast query, no fallback', async () => {
    const requests: Array<{ url: string; lastEventId: string | undefined }> = [];
    const total = 12;
    const http = createServer((req, res) => {
      requests.push({
        url: req.url ?? '',
        lastEventId: req.headers['last-event-id'] as string | undefined,
      });
      const from = Number(req.headers['last-event-id'] ?? 0);
      if (from >= total) {
        res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 20\n\n');
      // Three events per response, then the connection just ends (EventSource-style cut).
      for (let i = from + 1; i <= Math.min(from + 3, total); i++)
        res.write(`id: ${i}\ndata: e${i}\n\n`);
      res.end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { port } = http.address() as AddressInfo;
    let conn: Connection | null = null;
    try {
      conn = connect(`http://127.0.0.1:${port}/events`, testOptions());
      const transportsUsed = new Set<string>();
      conn.on('open', (o) => transportsUsed.add(o.transport));
      const got = await collect(conn);
      expect(got.map((e) => e.data)).toEqual(Array.from({ length: total }, (_, i) => `e${i + 1}`));
      expect(requests.every((r) => r.url === '/events')).toBe(true);
      expect(requests.map((r) => r.lastEventId)).toEqual([undefined, '3', '6', '9', '12']);
      expect([...transportsUsed]).toEqual(['sse']);
    } finally {
      conn?.close();
      await new Promise((r) => http.close(r));
    }
  });
});

describe('close', () => {
  it('close() ends the iterator, reports client-abort, and stops reconnecting', async () => {
    server = await startTestServer();
    await server.outlast.publish('c', { data: 1 });
    const conn = connect(`${server.base}/streams/c`, testOptions());
    const cuts: string[] = [];
    conn.on('cut', (c) => cuts.push(c.cause));
    const it = conn[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    conn.close();
    expect((await it.next()).done).toBe(true);
    await expect(conn.done).rejects.toMatchObject({ code: 'client-closed' });
    expect(cuts).toEqual(['client-abort']);
    const s = server;
    await until(() => s.outlast.connections === 0, 'the server to see the client go');
  });
});
