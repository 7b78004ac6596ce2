import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { closeFixtures, collect, httpFixture, startTestServer, testOptions } from './helpers.js';

/*
 * Any SSE stream a user has: LLM-style POST streams, headers resolved per connection, a 401
 * that refreshes credentials once. Fixtures play the APIs byte for byte.
 */

afterEach(async () => {
  await closeFixtures();
});

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => resolve(body));
  });

describe('POST streams', () => {
  it('streams /v1/chat/completions (stream: true) and ends with the response', async () => {
    const requests: Array<{ method: string; type: string; body: unknown; auth: string }> = [];
    const origin = await httpFixture(async (req, res) => {
      const body = JSON.parse(await readBody(req));
      requests.push({
        method: req.method!,
        type: String(req.headers['content-type']),
        body,
        auth: String(req.headers.authorization),
      });
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      for (const piece of ['Hel', 'lo', '!']) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    });
    const conn = connect(`${origin}/v1/chat/completions`, {
      ...testOptions(),
      method: 'POST',
      headers: { authorization: 'Bearer k' },
      body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] },
    });
    const got = await collect(conn);
    expect(got.map((e) => e.data)).toEqual([
      ...['Hel', 'lo', '!'].map((c) => JSON.stringify({ choices: [{ delta: { content: c } }] })),
      '[DONE]',
    ]);
    await expect(conn.done).resolves.toMatchObject({ lastEventId: null });
    expect(requests).toEqual([
      {
        method: 'POST',
        type: 'application/json',
        body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] },
        auth: 'Bearer k',
      },
    ]);
  });

  it('streams /v1/responses with its typed events', async () => {
    const origin = await httpFixture(async (req, res) => {
      await readBody(req);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: response.created\ndata: {"type":"response.created"}\n\n');
      res.write('event: response.output_text.delta\ndata: {"delta":"ok"}\n\n');
      res.end('event: response.completed\ndata: {"type":"response.completed"}\n\n');
    });
    const conn = connect(`${origin}/v1/responses`, {
      ...testOptions(),
      method: 'POST',
      body: '{"model":"m","input":"hi","stream":true}',
      headers: { 'content-type': 'application/json' },
    });
    const types: string[] = [];
    for await (const e of conn) types.push(e.type);
    expect(types).toEqual(['response.created', 'response.output_text.delta', 'response.completed']);
  });

  it('a cut POST stream is not re-sent: stream-interrupted, one request', async () => {
    let posts = 0;
    const origin = await httpFixture(async (req, res) => {
      posts++;
      await readBody(req);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const conn = connect(`${origin}/v1/chat/completions`, {
      ...testOptions(),
      method: 'POST',
      body: { stream: true },
    });
    const got: string[] = [];
    conn.on('event', (e) => got.push(e.data));
    await expect(conn.done).rejects.toMatchObject({ code: 'stream-interrupted' });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(['one']);
    expect(posts).toBe(1);
  });

  it('with resendPost, a cut POST stream is re-sent with Last-Event-ID and resumes', async () => {
    const resumes: Array<string | undefined> = [];
    const origin = await httpFixture(async (req, res) => {
      await readBody(req);
      const last = req.headers['last-event-id'] as string | undefined;
      resumes.push(last);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const from = last === undefined ? 1 : Number(last) + 1;
      for (let i = from; i <= Math.min(from + 1, 4); i++) res.write(`id: ${i}\ndata: ${i}\n\n`);
      if (from + 1 >= 4) res.end();
      else setTimeout(() => res.socket?.destroy(), 30);
    });
    const conn = connect(`${origin}/v1/stream`, {
      ...testOptions(),
      method: 'POST',
      body: { stream: true },
      resendPost: true,
    });
    const got = await collect(conn);
    expect(got.map((e) => e.data)).toEqual(['1', '2', '3', '4']);
    expect(resumes).toEqual([undefined, '2']);
  });

  it('a body without method still starts an outlast job; a body with GET is a misuse', async () => {
    const server = await startTestServer({
      jobs: { echo: async (ctx: { input: unknown }) => ctx.input },
    });
    try {
      const conn = connect(`${server.base}/jobs/echo`, testOptions({ body: { a: 1 } }));
      await expect(conn.result).resolves.toEqual({ a: 1 });
      expect(() => connect(`${server.base}/jobs/echo`, { body: {}, method: 'GET' })).toThrow(
        /method: 'POST'/,
      );
    } finally {
      await server.close();
    }
  });
});

describe('credentials', () => {
  it('a headers function is called for every connection', async () => {
    const seen: string[] = [];
    const origin = await httpFixture((req, res) => {
      seen.push(String(req.headers.authorization));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (seen.length < 3) res.end(`retry: 10\nid: ${seen.length}\ndata: x\n\n`);
      else res.end('data: last\n\n');
    });
    let token = 0;
    const conn = connect(`${origin}/s`, {
      ...testOptions({ protocol: 'sse' }),
      headers: async () => ({ authorization: `Bearer t${++token}` }),
    });
    const got: string[] = [];
    for await (const e of conn) {
      got.push(e.data);
      if (e.data === 'last') break;
    }
    conn.close();
    expect(seen).toEqual(['Bearer t1', 'Bearer t2', 'Bearer t3']);
  });

  it('a 401 calls onUnauthorized, which refreshes; the connection is tried once more', async () => {
    const seen: string[] = [];
    const origin = await httpFixture((req, res) => {
      seen.push(String(req.headers.authorization));
      if (req.headers.authorization !== 'Bearer fresh') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"unauthorized","message":"expired"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: ok\n\n');
    });
    let token = 'stale';
    const calls: unknown[] = [];
    const conn = connect(`${origin}/s`, {
      ...testOptions({ protocol: 'sse' }),
      headers: () => ({ authorization: `Bearer ${token}` }),
      onUnauthorized: async (info) => {
        calls.push(info);
        token = 'fresh';
      },
    });
    const first = await conn[Symbol.asyncIterator]().next();
    expect(first.value?.data).toBe('ok');
    expect(seen).toEqual(['Bearer stale', 'Bearer fresh']);
    expect(calls).toEqual([{ status: 401, url: `${origin}/s`, code: 'unauthorized' }]);
    conn.close();
  });

  it('a second 401 after the refresh is fatal: unauthorized', async () => {
    let requests = 0;
    const origin = await httpFixture((_req, res) => {
      requests++;
      res.writeHead(401).end();
    });
    let calls = 0;
    const conn = connect(`${origin}/s`, {
      ...testOptions({ protocol: 'sse' }),
      onUnauthorized: () => {
        calls++;
      },
    });
    await expect(conn.done).rejects.toMatchObject({ code: 'unauthorized' });
    expect([requests, calls]).toEqual([2, 1]);
  });

  it('the job POST is refreshed too', async () => {
    let token = 'stale';
    const server = await startTestServer({
      jobs: { echo: async (ctx: { input: unknown }) => ctx.input },
      authorize: (req) =>
        req.headers.get('authorization') === 'Bearer fresh' ? true : 'unauthorized',
    });
    try {
      const conn = connect(`${server.base}/jobs/echo`, {
        ...testOptions({ body: { b: 2 } }),
        headers: () => ({ authorization: `Bearer ${token}` }),
        onUnauthorized: () => {
          token = 'fresh';
        },
      });
      await expect(conn.result).resolves.toEqual({ b: 2 });
    } finally {
      await server.close();
    }
  });
});

describe('a headers function that throws', () => {
  it('is a network loss with its message, and is asked again on the reconnect', async () => {
    const origin = await httpFixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: ok\n\n');
    });
    let calls = 0;
    const conn = connect(`${origin}/s`, {
      ...testOptions({ protocol: 'sse' }),
      headers: async () => {
        if (++calls === 1) throw new Error('token endpoint down');
        return { authorization: 'Bearer t' };
      },
    });
    const cuts: string[] = [];
    conn.on('cut', (c) => cuts.push(`${c.cause}: ${c.message}`));
    const first = await conn[Symbol.asyncIterator]().next();
    conn.close();
    expect(first.value?.data).toBe('ok');
    expect(cuts[0]).toBe('network-error: headers() threw: token endpoint down');
  });
});

describe.each(['sse', 'ws', 'poll'] as const)('onUnauthorized over %s', (transport) => {
  it('a 401 from the outlast server refreshes the token and reads on', async () => {
    let token = 'stale';
    const server = await startTestServer({
      authorize: (req) =>
        req.headers.get('authorization') === 'Bearer fresh' ? true : 'unauthorized',
    });
    try {
      await server.outlast.publish('s', { data: 'x' });
      let calls = 0;
      const conn = connect(`${server.base}/streams/s`, {
        ...testOptions({ transports: [transport], protocol: 'outlast' }),
        headers: () => ({ authorization: `Bearer ${token}` }),
        onUnauthorized: () => {
          calls++;
          token = 'fresh';
        },
      });
      const first = await conn[Symbol.asyncIterator]().next();
      conn.close();
      expect(first.value?.data).toBe('x');
      expect(calls).toBe(1);
    } finally {
      await server.close();
    }
  });
});
