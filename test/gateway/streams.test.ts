import { type IncomingHttpHeaders, request } from 'node:http';
import { EventSource } from 'eventsource';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseRunEventId } from '../../src/gateway/index.js';
import { sleep, until } from '../helpers/server.js';
import {
  expectIdle,
  readSse,
  sseRoute,
  startTestGateway,
  startTestUpstream,
  type TestGateway,
  type TestUpstream,
  userEvents,
} from './helpers.js';

let up: TestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startTestUpstream({
    '/sse': sseRoute(10, 20, { ids: true, type: 'chunk' }),
    '/slow-first': sseRoute(3, 20, { firstAfter: 400 }),
    '/long': sseRoute(30, 20),
    '/json': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close', 'x-up': '1' });
      res.end('{"ok":true}');
    },
  });
});
afterAll(async () => {
  await up.close();
});
afterEach(async () => {
  // Every test leaves nothing behind: no run, no reader, no passed-through request.
  await expectIdle(gw.gateway);
  await gw.close();
  up.hits.clear();
  up.aborted.clear();
});

describe('upstream event streams become outlast streams', () => {
  it('keeps the upstream event types, data and ids, and says which run it is', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const r = await readSse(`${gw.url}/sse`);
    expect(r.status).toBe(200);
    expect(r.headers.get('outlast-heartbeat')).toBe('100');
    const runId = r.headers.get('outlast-run');
    expect(runId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const run = r.events.find((e) => e.type === 'outlast.run');
    expect(JSON.parse(run!.data)).toEqual({ run: runId });
    const events = userEvents(r);
    expect(events.map((e) => e.data)).toEqual(
      Array.from({ length: 10 }, (_, i) => `{"n":${i + 1}}`),
    );
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['chunk']));
    // The upstream's own id is the last part of the gateway's id.
    expect(events.map((e) => parseRunEventId(e.id!)?.upstreamId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `up-${i + 1}`),
    );
    expect(events.every((e) => parseRunEventId(e.id!)?.runId === runId)).toBe(true);
    expect(r.events.at(-2)?.type).toBe('outlast.result');
    expect(JSON.parse(r.events.at(-2)!.data).result).toMatchObject({ status: 200, events: 10 });
    expect(r.events.at(-1)?.type).toBe('outlast.end');
    expect(up.hits.get('/sse')).toBe(1);
    // A Last-Event-ID of the upstream's own (not a run's) goes to the upstream with a new run.
    const own = await readSse(`${gw.url}/sse`, { headers: { 'last-event-id': 'up-3' } });
    expect(up.seen.get('/sse')!['last-event-id']).toBe('up-3');
    expect(JSON.parse(own.events.find((e) => e.type === 'outlast.open')!.data).resume).toBe(
      'fresh',
    );
    expect(up.hits.get('/sse')).toBe(2);
  });

  it('sends headers and heartbeats at once while the upstream has not answered', async () => {
    gw = await startTestGateway({ upstream: up.url, heartbeatMs: 50 });
    const r = await readSse(`${gw.url}/slow-first`);
    expect(r.firstByteMs).toBeLessThan(300);
    expect(r.comments.filter((c) => c.startsWith('hb ')).length).toBeGreaterThanOrEqual(3);
    expect(userEvents(r)).toHaveLength(3);
  });

  it('a reconnect with Last-Event-ID reattaches to the same run: nothing lost, no second upstream request', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const first = await readSse(
      `${gw.url}/long`,
      {},
      (events) => userEvents({ events } as never).length >= 5,
    );
    expect(first.end).toBe('stopped');
    const last = first.events.at(-1)!.id!;
    await sleep(100); // the run goes on without a reader
    const second = await readSse(`${gw.url}/long`, { headers: { 'last-event-id': last } });
    const all = [...userEvents(first), ...userEvents(second)].map((e) => JSON.parse(e.data).n);
    expect(all).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(up.hits.get('/long')).toBe(1);
    expect(up.aborted.get('/long') ?? 0).toBe(0);
    // The same with the lastEventId query, over long-polling.
    const poll = await fetch(
      `${gw.url}/long?transport=poll&lastEventId=${encodeURIComponent(last)}`,
    );
    const body = (await poll.json()) as { events: { data: string }[]; resume: string };
    expect(body.resume).toBe('recovered');
    expect(body.events[0]?.data).toBe(`{"n":${JSON.parse(first.events.at(-1)!.data).n + 1}}`);
    expect(up.hits.get('/long')).toBe(1);
  });

  it('a plain EventSource through rotation completes with every event, one upstream request', async () => {
    gw = await startTestGateway({ upstream: up.url, maxStreamMs: 150, retryMs: 10 });
    const es = new EventSource(`${gw.url}/long`);
    const got: number[] = [];
    let opens = 0;
    es.onopen = () => opens++;
    es.onmessage = (e) => got.push(JSON.parse(e.data).n);
    const done = new Promise<void>((resolve) =>
      es.addEventListener('outlast.end', () => resolve()),
    );
    await done;
    // After the end the gateway answers 204 to the reconnect: EventSource stops.
    await until(() => es.readyState === EventSource.CLOSED, 'EventSource stopped', 3000);
    es.close();
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(opens).toBeGreaterThanOrEqual(3);
    expect(up.hits.get('/long')).toBe(1);
  });

  it('a client that leaves never aborts the upstream; the run ends by itself', async () => {
    gw = await startTestGateway({ upstream: up.url });
    await readSse(`${gw.url}/long`, {}, (events) => events.length >= 3);
    await until(() => gw.gateway.stats().runs === 0, 'run finished', 5000);
    expect(up.aborted.get('/long') ?? 0).toBe(0);
  });

  it('passes plain requests through, hop-by-hop headers stripped, X-Forwarded-* added', async () => {
    gw = await startTestGateway({ upstream: up.url });
    // node:http, since fetch refuses to send connection-level fields.
    const res = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        const req = request(`${gw.url}/json?q=1`, {
          headers: {
            'x-mine': 'a',
            'keep-alive': 'timeout=5',
            connection: 'keep-alive, x-drop',
            'x-drop': '1',
          },
        });
        req.on('response', (r) => {
          let body = '';
          r.on('data', (c: Buffer) => {
            body += c;
          });
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
        });
        req.on('error', reject);
        req.end();
      },
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ok: true });
    expect(res.headers['x-up']).toBe('1');
    // The upstream's `Connection: close` is its own business, not the client's.
    expect(res.headers.connection).not.toBe('close');
    const seen = up.seen.get('/json')!;
    expect(seen['x-mine']).toBe('a');
    expect(seen['x-drop']).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(new URL(gw.url).host);
    expect(gw.gateway.stats().runs).toBe(0);
  });

  it('an SSE answer to a request that did not ask for one still becomes a run', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const res = await fetch(`${gw.url}/sse`, { headers: { accept: '*/*' } });
    expect(res.headers.get('outlast-run')).not.toBeNull();
    const text = await res.text();
    expect(text).toContain('event: outlast.end');
    expect(text.match(/event: chunk/g)).toHaveLength(10);
  });

  it('a reader resumes over WebSocket on the upstream path (the outlast client moving transports)', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const first = await readSse(
      `${gw.url}/long`,
      {},
      (events) => userEvents({ events } as never).length >= 5,
    );
    const last = first.events.at(-1)!.id!;
    const ws = new WebSocket(
      `${gw.url.replace('http', 'ws')}/long?lastEventId=${encodeURIComponent(last)}`,
    );
    const frames: { type: string; data?: string; resume?: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (m) => frames.push(JSON.parse(String(m))));
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    expect(frames[0]).toMatchObject({ type: 'open', resume: 'recovered' });
    expect(frames.at(-1)?.type).toBe('end');
    const rest = frames
      .filter((f) => f.type === 'event' && f.data?.startsWith('{"n"'))
      .map((f) => JSON.parse(f.data!).n);
    const seen = userEvents(first).map((e) => JSON.parse(e.data).n);
    expect([...seen, ...rest]).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(up.hits.get('/long')).toBe(1);
  });

  it('the fetch handler serves runs and passes requests through, as the Node one', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const res = await gw.gateway.fetch(
      new Request('http://gateway.test/sse', { headers: { accept: 'text/event-stream' } }),
    );
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const runId = res.headers.get('outlast-run')!;
    const text = await res.text();
    expect(text.match(/event: chunk/g)).toHaveLength(10);
    expect(text).toContain(`id: ${runId}.`);
    const again = await gw.gateway.fetch(
      new Request('http://gateway.test/sse', { headers: { 'last-event-id': `${runId}.x:1` } }),
    );
    expect(again.status).toBe(200);
    await again.body?.cancel();
    const json = await gw.gateway.fetch(new Request('http://gateway.test/json'), {
      remoteAddress: '10.0.0.7',
    });
    expect(await json.json()).toEqual({ ok: true });
    expect(up.seen.get('/json')!['x-forwarded-for']).toBe('10.0.0.7');
    expect(up.hits.get('/sse')).toBe(1);
  });

  it("the server's authorize hook decides who starts runs and who reads them", async () => {
    const asked: string[] = [];
    gw = await startTestGateway({
      upstream: up.url,
      authorize: (request, id, action) => {
        asked.push(`${action} ${action === 'start-job' ? id : 'run'}`);
        const token = request.headers.get('authorization');
        if (token === null) return 'unauthorized';
        return token === 'Bearer reader' ? action === 'read' : true;
      },
    });
    const anonymous = await fetch(`${gw.url}/long`, { headers: { accept: 'text/event-stream' } });
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
    const owner = await readSse(
      `${gw.url}/long`,
      { headers: { authorization: 'Bearer owner' } },
      (events) => events.length >= 3,
    );
    // Another identity may read (the hook says so) but not start.
    const reader = await readSse(`${gw.url}/long`, {
      headers: { authorization: 'Bearer reader', 'last-event-id': owner.events.at(-1)!.id! },
    });
    expect(reader.status).toBe(200);
    expect(reader.events.at(-1)?.type).toBe('outlast.end');
    const start = await fetch(`${gw.url}/sse`, {
      headers: { accept: 'text/event-stream', authorization: 'Bearer reader' },
    });
    expect(start.status).toBe(403);
    await start.body?.cancel();
    expect(asked).toContain('start-job GET /long');
    expect(asked).toContain('read run');
    expect(up.hits.get('/long')).toBe(1);
    expect(up.hits.get('/sse')).toBeUndefined();
  });

  it('a WebSocket the upstream refuses gets its refusal; an unreachable upstream a 502', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/json`);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('error', () => {});
    });
    // The Node upstream has no upgrade handler: it answers the handshake as a plain request
    // (200 JSON), and that answer, not a made-up one, is what the client sees.
    expect(refused).toBe(200);
    await gw.close();
    gw = await startTestGateway({ upstream: 'http://127.0.0.1:9' });
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(502);
  });

  it('with cors set, preflights to upstream paths are answered and runs carry CORS headers', async () => {
    gw = await startTestGateway({ upstream: up.url, cors: { origin: 'http://page.test' } });
    const preflight = (origin: string) =>
      fetch(`${gw.url}/json`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'prefer, last-event-id',
        },
      });
    const ok = await preflight('http://page.test');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://page.test');
    expect(ok.headers.get('access-control-allow-headers')).toBe('prefer, last-event-id');
    const other = await preflight('http://evil.test');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(up.hits.get('/json')).toBeUndefined();
    const job = await fetch(`${gw.url}/json`, {
      method: 'POST',
      headers: { origin: 'http://page.test', prefer: 'respond-async' },
    });
    expect(job.status).toBe(202);
    expect(job.headers.get('access-control-allow-origin')).toBe('http://page.test');
    const { result } = (await job.json()) as { result: string };
    const run = await readSse(`${gw.url}/sse`, { headers: { origin: 'http://page.test' } });
    expect(run.headers.get('access-control-allow-origin')).toBe('http://page.test');
    expect(result).toMatch(/^\/outlast\/jobs\//);
  });
});
