import type { AddressInfo } from 'node:net';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, JobFailedError } from '../../src/client/index.js';
import { OutlastError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
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
let gw: TestGateway | undefined;
let garbage: Server;
let garbageUrl: string;
/** Answers /ocr has sent. */
let ocrAnswers = 0;
const garbageSockets = new Set<Socket>();

beforeAll(async () => {
  up = await startTestUpstream({
    '/ocr': (_req, res, body) => {
      const t = setTimeout(() => {
        ocrAnswers++;
        res.writeHead(200, { 'content-type': 'application/json', 'x-ocr': 'done' });
        res.end(JSON.stringify({ pages: 9, input: JSON.parse(body.toString() || 'null') }));
      }, 300);
      res.once('close', () => clearTimeout(t));
    },
    '/three': sseRoute(3, 10),
    '/fail': (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"detail":"model overloaded"}');
    },
    '/silent': () => {},
    '/reset': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => res.socket?.resetAndDestroy(), 50);
    },
    '/huge-line': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: before\n\n');
      // A 100 MB line, written as fast as the gateway takes it (it stops reading early).
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      const write = () => {
        while (sent < 100 && !res.destroyed) {
          sent++;
          if (!res.write(chunk)) {
            res.once('drain', write);
            return;
          }
        }
        if (!res.destroyed) res.end('\n\n');
      };
      write();
    },
    '/binary': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0xff, 0x00, 0xfe]));
    },
  });
  // Something that is not HTTP at all.
  garbage = createServer((s) => {
    garbageSockets.add(s);
    s.once('close', () => garbageSockets.delete(s));
    s.on('error', () => {});
    s.end('SSH-2.0-OpenSSH_9.6\r\n\x00\x01garbage');
  });
  await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
  garbageUrl = `http://127.0.0.1:${(garbage.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await up.close();
  for (const s of garbageSockets) s.destroy();
  await new Promise<void>((resolve) => garbage.close(() => resolve()));
});
afterEach(async () => {
  const g = gw!;
  await expectIdle(g.gateway);
  await g.close();
  gw = undefined;
  up.hits.clear();
  up.aborted.clear();
});

async function waitJob(url: string): Promise<Record<string, unknown>> {
  for (;;) {
    const r = (await (await fetch(url)).json()) as Record<string, unknown>;
    if (r.state !== 'running') return r;
    await sleep(20);
  }
}

describe('long requests become jobs', () => {
  it('Prefer: respond-async: 202 at once, the upstream answer is the result', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const before = ocrAnswers;
    const res = await fetch(`${gw.url}/ocr`, {
      method: 'POST',
      headers: { prefer: 'respond-async', 'content-type': 'application/json' },
      body: '{"document":"scan.pdf"}',
    });
    expect(res.status).toBe(202);
    // The 202 comes before the upstream has answered.
    expect(ocrAnswers).toBe(before);
    expect(res.headers.get('preference-applied')).toBe('respond-async');
    const job = (await res.json()) as { jobId: string; result: string; stream: string };
    expect(res.headers.get('location')).toBe(job.result);
    const record = await waitJob(`${gw.url}${job.result}`);
    expect(record.state).toBe('succeeded');
    const result = record.result as {
      status: number;
      headers: Record<string, string>;
      body: string;
    };
    expect(result.status).toBe(200);
    expect(result.headers['x-ocr']).toBe('done');
    expect(JSON.parse(result.body)).toEqual({ pages: 9, input: { document: 'scan.pdf' } });
    // Prefer: respond-async is the gateway's; the upstream gets a plain request.
    expect(up.seen.get('/ocr')!.prefer).toBeUndefined();
  });

  it('a route rule makes a job without the header; DELETE aborts the upstream request', async () => {
    gw = await startTestGateway({
      upstream: up.url,
      routes: [{ method: 'POST', path: '/ocr', mode: 'job' }],
    });
    const res = await fetch(`${gw.url}/ocr`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { result: string };
    await until(() => up.hits.get('/ocr') === 1, 'upstream reached');
    const del = await fetch(`${gw.url}${job.result}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const record = await waitJob(`${gw.url}${job.result}`);
    expect(record.state).toBe('cancelled');
    await until(() => up.aborted.get('/ocr') === 1, 'upstream request aborted');
  });

  it('binary answers are kept in base64; an answer past maxResultBytes fails the job', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const ok = (await (
      await fetch(`${gw.url}/binary`, { headers: { prefer: 'respond-async' } })
    ).json()) as { result: string };
    expect((await waitJob(`${gw.url}${ok.result}`)).result).toMatchObject({
      body: '/wD+',
      bodyEncoding: 'base64',
    });
    await gw.close();
    gw = await startTestGateway({ upstream: up.url, maxResultBytes: 2 });
    const res = await fetch(`${gw.url}/binary`, { headers: { prefer: 'respond-async' } });
    const job = (await res.json()) as { result: string };
    const record = await waitJob(`${gw.url}${job.result}`);
    expect(record.state).toBe('failed');
    expect(record.error).toMatchObject({ code: 'upstream-too-large', status: 200 });
  });
});

describe('upstream failures are typed', () => {
  const cases: [string, () => string, string, Record<string, unknown>][] = [
    ['5xx', () => `${up.url}`, '/fail', { code: 'upstream-status', status: 503 }],
    ['refused', () => 'http://127.0.0.1:9', '/x', { code: 'upstream-unreachable' }],
    ['garbage', () => garbageUrl, '/x', { code: 'upstream-bad-response' }],
    ['reset mid-stream', () => `${up.url}`, '/reset', { code: 'upstream-reset' }],
    ['never answers', () => `${up.url}`, '/silent', { code: 'upstream-timeout' }],
    ['a 100 MB line', () => `${up.url}`, '/huge-line', { code: 'upstream-too-large' }],
  ];
  it.each(cases)(
    '%s: a final outlast.error event and a failed job with the code',
    async (_name, upstream, path, error) => {
      gw = await startTestGateway({
        upstream: upstream(),
        upstreamHeadersTimeoutMs: 300,
        maxLineBytes: 65_536,
      });
      const r = await readSse(`${gw.url}${path}`);
      expect(r.status).toBe(200);
      const final = r.events.find((e) => e.type === 'outlast.error');
      expect(JSON.parse(final!.data)).toMatchObject(error);
      expect(r.events.at(-1)?.type).toBe('outlast.end');
      if (path === '/reset' || path === '/huge-line') {
        expect(userEvents(r)[0]?.data).toBe(path === '/reset' ? 'one' : 'before');
      }
      const job = await (
        await fetch(`${gw.url}/outlast/jobs/${r.headers.get('outlast-run')}`)
      ).json();
      expect(job).toMatchObject({ state: 'failed', error });
    },
  );

  it("the outlast client's result rejects with the upstream's code and status in error.job", async () => {
    gw = await startTestGateway({ upstream: up.url });
    const conn = connect(`${gw.url}/fail`, {
      body: {},
      headers: { prefer: 'respond-async' },
      WebSocket: null,
      reports: false,
    });
    const error = await conn.result.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as JobFailedError).code).toBe('job-failed');
    expect((error as JobFailedError).job).toMatchObject({ code: 'upstream-status', status: 503 });
  });

  it('a passed-through request to an unreachable upstream gets 502 with the code', async () => {
    gw = await startTestGateway({ upstream: 'http://127.0.0.1:9' });
    const res = await fetch(`${gw.url}/anything`);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'upstream-unreachable',
    );
  });
});

describe('hostile clients', () => {
  it('forged and foreign resume ids never reach another run or start a second one', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const res = await fetch(`${gw.url}/ocr`, {
      method: 'POST',
      headers: { prefer: 'respond-async' },
    });
    const { jobId } = (await res.json()) as { jobId: string };
    // Forged: a well-formed id of no run.
    const forged = await fetch(`${gw.url}/ocr`, {
      headers: { 'last-event-id': 'AAAAAAAAAAAAAAAAAAAAAA.abc:1' },
    });
    expect(forged.status).toBe(404);
    // Foreign: a real run, asked for on another path.
    const foreign = await fetch(`${gw.url}/other`, {
      headers: { 'last-event-id': `${jobId}.abc:1` },
    });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe(
      'unknown-stream',
    );
    // A malformed position in the right run: a gap from the start, never a silent skip.
    const gap = await readSse(`${gw.url}/ocr`, {
      headers: { 'last-event-id': `${jobId}.zzz:999` },
    });
    expect(JSON.parse(gap.events.find((e) => e.type === 'outlast.gap')!.data)).toMatchObject({
      reason: 'epoch',
    });
    expect(up.hits.get('/ocr')).toBe(1);
    expect(up.hits.get('/other')).toBeUndefined();
  });

  it('a flood of starts past maxRuns gets 503 with Retry-After; a body past maxBodyBytes 413', async () => {
    gw = await startTestGateway({ upstream: up.url, maxRuns: 3, maxBodyBytes: 10 });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${gw!.url}/ocr`, { method: 'POST', headers: { prefer: 'respond-async' } }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(3);
    expect(statuses.filter((s) => s === 503)).toHaveLength(7);
    const refused = answers.find((a) => a.status === 503)!;
    expect(refused.headers.get('retry-after')).toBe('5');
    for (const a of answers) await a.body?.cancel();
    const big = await fetch(`${gw.url}/ocr`, {
      method: 'POST',
      headers: { prefer: 'respond-async' },
      body: 'x'.repeat(11),
    });
    expect(big.status).toBe(413);
    await big.body?.cancel();
  });

  it('a client that leaves in the middle of its body starts nothing and leaves nothing behind', async () => {
    gw = await startTestGateway({ upstream: up.url });
    const { port } = new URL(gw.url);
    for (const mode of ['respond-async', 'stream']) {
      const socket = netConnect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const headers = mode === 'stream' ? 'accept: text/event-stream' : 'prefer: respond-async';
      socket.write(
        `POST /ocr HTTP/1.1\r\nhost: x\r\n${headers}\r\ncontent-length: 100\r\n\r\n{"docu`,
      );
      await sleep(50);
      socket.destroy();
    }
    await sleep(100);
    expect(up.hits.get('/ocr')).toBeUndefined();
    expect(gw.gateway.stats()).toMatchObject({ runs: 0, connections: 0 });
  });

  it('a store that fails in the middle of a run fails the run with the store error, not an upstream one', async () => {
    const inner = createMemoryStore();
    let appends = 0;
    const append: Store['append'] = async (id, event) => {
      // The run's own first event, then the upstream's: the third append fails.
      if (++appends === 3)
        throw new OutlastError('store-unavailable', 'Redis did not answer (test)');
      return inner.append(id, event);
    };
    const store = new Proxy(inner, {
      get: (target, key) => {
        if (key === 'append') return append;
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    gw = await startTestGateway({ upstream: up.url, store });
    const r = await readSse(`${gw.url}/three`);
    expect(userEvents(r).map((e) => e.data)).toEqual(['{"n":1}']);
    const final = r.events.find((e) => e.type === 'outlast.error');
    expect(JSON.parse(final!.data)).toMatchObject({
      code: 'store-unavailable',
      message: 'Redis did not answer (test)',
    });
    await inner.close();
  });
});
