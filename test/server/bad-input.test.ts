import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, connectWs, eventsOf } from '../helpers/clients.js';
import { closeIdle, startServer, type TestServer, until } from '../helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

function openWs(
  url: string,
): Promise<{ ws: WebSocket; closed: Promise<[number, string]>; frames: string[] }> {
  const ws = new WebSocket(url);
  const frames: string[] = [];
  ws.on('message', (d) => frames.push(String(d)));
  const closed = new Promise<[number, string]>((resolve) =>
    ws.on('close', (code, reason) => resolve([code, String(reason)])),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, closed, frames }));
    ws.once('error', reject);
  });
}

describe('bad input', () => {
  it('treats a malformed Last-Event-ID header as a gap from the start (SSE)', async () => {
    server = await startServer();
    const first = await server.outlast.publish('s', { data: 'a' });
    const conn = connect('sse', server.base, 's', { headers: { 'last-event-id': '\u00ff??' } });
    await conn.waitFor((m) => m.type === 'event');
    conn.cut();
    expect(conn.messages[1]).toMatchObject({ type: 'gap', reason: 'malformed', resumeFrom: first });
  });

  it('lets the lastEventId query win over the Last-Event-ID header', async () => {
    server = await startServer();
    const a = await server.outlast.publish('s', { data: 'a' });
    await server.outlast.publish('s', { data: 'b' });
    const conn = connect('sse', server.base, 's', {
      lastEventId: a,
      headers: { 'last-event-id': 'junk' },
    });
    await conn.waitFor((m) => m.type === 'event');
    conn.cut();
    expect(conn.messages[0]).toMatchObject({ resume: 'recovered' });
    expect(eventsOf(conn.messages).map((e) => e.data)).toEqual(['b']);
  });

  it('rejects every malformed query value with 400 bad-query', async () => {
    server = await startServer();
    await server.outlast.publish('s', { data: 'a' });
    for (const query of [
      'heartbeat=-1',
      'maxStream=1e3',
      'wait=soon',
      'transport=grpc',
      'heartbeat=',
    ]) {
      const res = await fetch(`${server.base}/streams/s?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('bad-query');
    }
    const ws = await fetch(`${server.base}/streams/s?transport=ws`);
    expect(ws.status).toBe(400);
  });

  it('answers 404 JSON for unknown jobs, job handlers and routes', async () => {
    server = await startServer();
    for (const [method, path, code] of [
      ['GET', '/jobs/nope', 'unknown-job'],
      ['DELETE', '/jobs/nope', 'unknown-job'],
      ['POST', '/jobs/nope', 'unknown-job'],
      ['GET', '/jobs/nope/events', 'unknown-stream'],
      ['GET', '/streams', 'unknown-route'],
      ['PUT', '/streams/s', 'unknown-route'],
      ['GET', '/', 'unknown-route'],
    ] as const) {
      const res = await fetch(`${server.base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('answers 413 for a job input over maxBodyBytes and 400 for one that is not JSON', async () => {
    server = await startServer({ maxBodyBytes: 100, jobs: { echo: (ctx) => ctx.input } });
    const big = await fetch(`${server.base}/jobs/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(500),
    });
    expect(big.status).toBe(413);
    const bad = await fetch(`${server.base}/jobs/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(bad.status).toBe(400);
    const ok = await fetch(`${server.base}/jobs/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(ok.status).toBe(202);
  });

  it('answers 503 with Retry-After past maxConnections', async () => {
    server = await startServer({ maxConnections: 1, retryAfterSeconds: 7 });
    await server.outlast.publish('a', { data: '1' });
    await server.outlast.publish('b', { data: '1' });
    const held = connect('sse', server.base, 'a');
    await until(() => server!.outlast.connections === 1, 'one connection');
    const res = await fetch(`${server.base}/streams/b`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('overloaded');
    held.cut();
    await until(() => server!.outlast.connections === 0, 'the slot to be free');
    const again = connect('sse', server.base, 'b');
    await again.waitFor((m) => m.type === 'event');
    again.cut();
  });

  it('answers 429 with Retry-After past maxConnectionsPerStream', async () => {
    server = await startServer({ maxConnectionsPerStream: 1 });
    await server.outlast.publish('a', { data: '1' });
    const held = connect('sse', server.base, 'a');
    await until(() => server!.outlast.connections === 1, 'one connection');
    const res = await fetch(`${server.base}/streams/a`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    held.cut();
  });

  it('answers 429 with Retry-After past maxConnectionsPerAddress, over SSE, polls and WebSocket', async () => {
    // Every client here comes from 127.0.0.1: the runtime's own peer address is what counts.
    server = await startServer({ maxConnectionsPerAddress: 2, retryAfterSeconds: 7 });
    await server.outlast.publish('a', { data: '1' });
    const head = (await server.outlast.store.info('a'))!.lastId;
    const sse = connect('sse', server.base, 'a');
    const poll = connect('poll', server.base, 'a', { lastEventId: head, query: { wait: '5000' } });
    await until(() => server!.outlast.connections === 2, 'two connections');
    expect(server.outlast.stats().addresses).toBe(1);
    const res = await fetch(`${server.base}/streams/a`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('too-many-address-connections');
    expect(error.message).not.toContain('2');
    const ws = connect('ws', server.base, 'a');
    expect(await ws.finished).toMatchObject({ how: 'refused', status: 429 });
    sse.cut();
    poll.cut();
    await until(() => server!.outlast.stats().addresses === 0, 'the address to be forgotten');
    const again = connect('ws', server.base, 'a');
    await again.waitFor((m) => m.type === 'event');
    again.cut();
  });

  it('validates cut reports: 400 for bad JSON, 413 past the limits, 204 otherwise', async () => {
    server = await startServer({ maxReportsPerRequest: 2 });
    const post = (body: string) => fetch(`${server!.base}/reports`, { method: 'POST', body });
    expect((await post('nope')).status).toBe(400);
    expect((await post('{"reports":{}}')).status).toBe(400);
    expect((await post(JSON.stringify({ reports: [{}, {}, {}] }))).status).toBe(413);
    expect((await post('x'.repeat(70_000))).status).toBe(413);
    expect(
      (await post(JSON.stringify({ reports: [{ cause: 'stall', transport: 'sse' }] }))).status,
    ).toBe(204);
  });

  it('refuses a WebSocket upgrade for an unknown stream with a 404 JSON response', async () => {
    server = await startServer();
    const finish = await connectWs(server.base, 'nope').finished;
    expect(finish.status).toBe(404);
    expect(JSON.parse(finish.body!).error.code).toBe('unknown-stream');
  });

  it('closes a WebSocket that sends garbage with 1008 and a reason', async () => {
    server = await startServer();
    await server.outlast.publish('s', { data: 'a' });
    for (const garbage of [
      'not json',
      '{"type":"hello"}',
      '{"type":"resume","lastEventId":5}',
      '[]',
    ]) {
      const { ws, closed, frames } = await openWs(`${server.base.replace('http', 'ws')}/streams/s`);
      ws.send(garbage);
      const [code, reason] = await closed;
      expect(code, garbage).toBe(1008);
      expect(reason).toContain('resume');
      expect(frames.map((f) => JSON.parse(f))).toEqual([
        { type: 'error', code: 'bad-frame', message: reason },
      ]);
    }
    const { ws, closed } = await openWs(`${server.base.replace('http', 'ws')}/streams/s`);
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await closed)[0]).toBe(1008);
    await until(() => server!.outlast.connections === 0, 'every slot to be free');
  });

  it('waits for the resume frame, then reads from its position', async () => {
    server = await startServer();
    const a = await server.outlast.publish('s', { data: 'a' });
    await server.outlast.publish('s', { data: 'b' });
    const conn = connectWs(server.base, 's', { helloFrame: true, lastEventId: a });
    await conn.waitFor((m) => m.type === 'event');
    conn.cut();
    expect(conn.messages[0]).toMatchObject({ type: 'open', resume: 'recovered' });
    expect(eventsOf(conn.messages).map((e) => e.data)).toEqual(['b']);
  });

  it('closes a WebSocket with 1008 when no resume frame comes in time', async () => {
    server = await startServer({ wsHelloTimeoutMs: 150 });
    await server.outlast.publish('s', { data: 'a' });
    const started = Date.now();
    const { closed, frames } = await openWs(`${server.base.replace('http', 'ws')}/streams/s`);
    const [code, reason] = await closed;
    expect(code).toBe(1008);
    expect(reason).toContain('150 ms');
    expect(frames.map((f) => JSON.parse(f).code)).toEqual(['bad-frame']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('rejects reserved event types and bad options with typed errors', async () => {
    server = await startServer();
    await expect(
      server.outlast.publish('s', { event: 'outlast.open', data: 1 }),
    ).rejects.toMatchObject({
      code: 'reserved-event-type',
    });
    await expect(server.outlast.publish('s', { event: 'a\nb', data: 1 })).rejects.toMatchObject({
      code: 'invalid-field',
    });
    await server.outlast.end('s');
    await expect(server.outlast.publish('s', { data: 1 })).rejects.toMatchObject({
      code: 'stream-ended',
    });
    const { createOutlast } = await import('../../src/server/index.js');
    expect(() => createOutlast({ heartbeatMs: -5 })).toThrow(/heartbeatMs/);
    expect(() => createOutlast({ minHeartbeatMs: 5000, maxHeartbeatMs: 1000 })).toThrow(
      /minHeartbeatMs/,
    );
  });

  it('answers CORS preflights and tags responses for allowed origins only', async () => {
    server = await startServer({ cors: { origin: ['https://app.example'] } });
    await server.outlast.publish('s', { data: 'a' });
    const pre = await fetch(`${server.base}/streams/s`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-headers')).toContain('Last-Event-ID');
    const other = await fetch(`${server.base}/streams/s?transport=poll`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const ok = await fetch(`${server.base}/streams/s?transport=poll`, {
      headers: { origin: 'https://app.example' },
    });
    expect(ok.headers.get('access-control-expose-headers')).toContain('Outlast-Heartbeat');
  });
});
