import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, eventsOf, type TransportKind } from '../helpers/clients.js';
import { sleep } from '../helpers/server.js';
import { bundle, runtimeBinary } from './spawn.js';

/*
 * outlast/workers in workerd (Cloudflare's runtime, run locally by miniflare): the Worker
 * entry routes to one Durable Object per stream and per job, and real clients read them over
 * real sockets. The in-process shared suite cannot run here (workerd runs no code handed to
 * it at run time, and a Worker opens no listeners of its own), so these cases are the suite's
 * for the Workers deployment: job resumed after a cut on every transport, resume and gaps,
 * heartbeats, rotation, limits, bad input, and a job whose object is restarted.
 */

const dir = mkdtempSync(join(tmpdir(), 'outlast-workerd-'));
let script = '';
let mf: Miniflare;
let base = '';

async function start(persist?: string): Promise<{ mf: Miniflare; base: string }> {
  const instance = new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRoot: dir,
    compatibilityDate: '2025-01-01',
    durableObjects: { OUTLAST: 'OutlastObject' },
    ...(persist === undefined ? {} : { durableObjectsPersist: persist }),
    host: '127.0.0.1',
    port: 0,
  });
  const url = await instance.ready;
  return { mf: instance, base: `${url.origin}/outlast` };
}

beforeAll(async () => {
  runtimeBinary('workerd');
  script = await bundle('test/runtimes/workers-entry.ts', dir, 'browser');
  ({ mf, base } = await start());
});

afterAll(async () => {
  await mf?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function startJob(at: string, steps: number, ms: number): Promise<string> {
  const res = await fetch(`${at}/jobs/steps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ steps, ms }),
  });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { jobId: string; stream: string };
  expect(body.stream).toBe(`/outlast/jobs/${body.jobId}/events`);
  return body.jobId;
}

async function testCall(path: string, body: object): Promise<Response> {
  return fetch(`${new URL(base).origin}/test/${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
}

const publish = async (streamId: string, data: string) =>
  ((await (await testCall('publish', { streamId, data })).json()) as { id: string }).id;

describe.each<TransportKind>(['sse', 'ws', 'poll'])('workerd, transport %s', (kind) => {
  it('completes a job with progress events, resumed after a cut', async () => {
    const jobId = await startJob(base, 6, 60);
    const first = connect(kind, base, jobId);
    const progress = (await first.waitFor((m) => m.type === 'event')) as { id: string };
    first.cut();
    // The job goes on with no reader: its object is alive, not the POST's request.
    await sleep(200);
    const again = connect(kind, base, jobId, { lastEventId: progress.id });
    expect((await again.finished).how).toBe('end');
    const events = eventsOf(again.messages);
    expect(events.map((e) => e.event)).toEqual([
      'progress',
      'progress',
      'progress',
      'progress',
      'progress',
      'outlast.result',
    ]);
    expect(JSON.parse(events[0]!.data)).toEqual({ step: 2 });
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ result: { steps: 6 } });
    const record = await (await fetch(`${base}/jobs/${jobId}`)).json();
    expect(record).toMatchObject({ id: jobId, state: 'succeeded', result: { steps: 6 } });
  });

  it('resumes a published stream with no loss, and tells a malformed id as a gap', async () => {
    const streamId = `s-${kind}-${Math.random().toString(36).slice(2)}`;
    const a = await publish(streamId, 'a');
    await publish(streamId, 'b');
    const conn = connect(kind, base, streamId, { lastEventId: a });
    await conn.waitFor((m) => m.type === 'event' && m.data === 'b');
    await publish(streamId, 'live');
    await conn.waitFor((m) => m.type === 'event' && m.data === 'live');
    conn.cut();
    expect(conn.messages[0]).toMatchObject({ type: 'open', resume: 'recovered' });
    expect(eventsOf(conn.messages).map((e) => e.data)).toEqual(['b', 'live']);
    const bad = connect(kind, base, streamId, { lastEventId: 'nope' });
    await bad.waitFor((m) => m.type === 'event');
    bad.cut();
    expect(bad.messages[1]).toEqual({
      type: 'gap',
      requested: 'nope',
      resumeFrom: a,
      reason: 'malformed',
    });
  });

  it('answers 404 JSON for an unknown stream and 400 for a bad query', async () => {
    const missing = await connect(kind, base, 'never-published').finished;
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body!).error.code).toBe('unknown-stream');
    const streamId = `q-${kind}`;
    await publish(streamId, 'a');
    const bad = await connect(kind, base, streamId, { query: { heartbeat: '1.5s' } }).finished;
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body!).error.code).toBe('bad-query');
  });

  if (kind !== 'poll') {
    it('heartbeats at the interval asked for, on the object timers', async () => {
      const streamId = `hb-${kind}`;
      await publish(streamId, 'a');
      const conn = connect(kind, base, streamId, { query: { heartbeat: '200' } });
      await sleep(1150);
      conn.cut();
      expect(conn.messages[0]).toMatchObject({ type: 'open', heartbeatMs: 200 });
      const beats = conn.messages.filter((m) => m.type === 'heartbeat') as { t: number }[];
      expect(beats.length).toBeGreaterThanOrEqual(4);
      for (let i = 1; i < beats.length; i++) {
        const gap = beats[i]!.t - beats[i - 1]!.t;
        expect(gap).toBeGreaterThanOrEqual(200 - 20 - 5);
        expect(gap).toBeLessThanOrEqual(200 + 150);
      }
    });

    it('rotates before maxStream, and the next read loses nothing', async () => {
      const streamId = `rot-${kind}`;
      await publish(streamId, 'e0');
      const conn = connect(kind, base, streamId, { query: { maxStream: '300' } });
      const last = (await conn.waitFor((m) => m.type === 'event')) as { id: string };
      expect((await conn.finished).how).toBe('rotate');
      await publish(streamId, 'e1');
      const next = connect(kind, base, streamId, { lastEventId: last.id });
      await next.waitFor((m) => m.type === 'event' && m.data === 'e1');
      next.cut();
      expect(eventsOf(next.messages).map((e) => e.data)).toEqual(['e1']);
    });
  }
});

describe('workerd, outlast/workers', () => {
  it('keeps a stream retained to maxEventsPerStream and tells older ids as evicted', async () => {
    const streamId = 'retained';
    const first = await publish(streamId, 'e0');
    for (let i = 1; i < 55; i++) await publish(streamId, `e${i}`);
    const conn = connect('poll', base, streamId, { lastEventId: first });
    await conn.waitFor((m) => m.type === 'event');
    conn.cut();
    expect(conn.messages[1]).toMatchObject({ type: 'gap', reason: 'evicted' });
    expect(eventsOf(conn.messages)[0]!.data).toBe('e5');
  });

  it('counts connections per client by CF-Connecting-IP, the address Cloudflare saw', async () => {
    const streamId = 'per-address';
    await publish(streamId, 'a');
    const from = (ip: string) => ({ headers: { 'cf-connecting-ip': ip } });
    const held = [connect('sse', base, streamId, from('198.51.100.1'))];
    held.push(connect('ws', base, streamId, from('198.51.100.1')));
    for (const c of held) await c.waitFor((m) => m.type === 'event');
    const third = await connect('sse', base, streamId, from('198.51.100.1')).finished;
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body!).error.code).toBe('too-many-address-connections');
    // Another client is served; so is one the header does not name (not counted).
    const other = connect('poll', base, streamId, from('198.51.100.2'));
    await other.waitFor((m) => m.type === 'event');
    const unnamed = connect('sse', base, streamId);
    await unnamed.waitFor((m) => m.type === 'event');
    for (const c of [...held, other, unnamed]) c.cut();
    // The slots come back once the first client's readers are gone.
    await sleep(200);
    const again = connect('sse', base, streamId, from('198.51.100.1'));
    await again.waitFor((m) => m.type === 'event');
    again.cut();
  });

  it('refuses publishing to an ended stream with a typed error', async () => {
    await publish('ended', 'a');
    expect((await testCall('end', { streamId: 'ended' })).status).toBe(200);
    const res = await testCall('publish', { streamId: 'ended', data: 'b' });
    expect(await res.json()).toEqual({ code: 'stream-ended' });
  });

  it('answers unknown routes and unknown jobs with 404 JSON, bad job input with 4xx', async () => {
    const route = await fetch(`${base}/nothing/here`);
    expect(route.status).toBe(404);
    expect(((await route.json()) as { error: { code: string } }).error.code).toBe('unknown-route');
    const job = await fetch(`${base}/jobs/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(job.status).toBe(404);
    const handler = await fetch(`${base}/jobs/nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(handler.status).toBe(404);
    const garbage = await fetch(`${base}/jobs/steps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(garbage.status).toBe(400);
  });

  it('cancels a running job by DELETE: its stream ends with job-cancelled', async () => {
    const jobId = await startJob(base, 50, 100);
    const conn = connect('sse', base, jobId);
    await conn.waitFor((m) => m.type === 'open');
    const res = await fetch(`${base}/jobs/${jobId}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect((await conn.finished).how).toBe('end');
    expect(JSON.parse(eventsOf(conn.messages).at(-1)!.data)).toMatchObject({
      code: 'job-cancelled',
    });
  });

  it('ends the stream of a job whose object was restarted with job-interrupted', async () => {
    const persist = join(dir, 'persist');
    const first = await start(persist);
    const jobId = await startJob(first.base, 100, 50);
    const reader = connect('sse', first.base, jobId);
    const seen = (await reader.waitFor((m) => m.type === 'event')) as { id: string };
    reader.cut();
    await first.mf.dispose(); // the object, its timers and the job's work are gone
    const second = await start(persist);
    try {
      const again = connect('sse', second.base, jobId, { lastEventId: seen.id });
      expect((await again.finished).how).toBe('end');
      const events = eventsOf(again.messages);
      expect(events.at(-1)).toMatchObject({ event: 'outlast.error' });
      expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ code: 'job-interrupted' });
      const record = await (await fetch(`${second.base}/jobs/${jobId}`)).json();
      expect(record).toMatchObject({ state: 'failed', error: { code: 'job-interrupted' } });
    } finally {
      await second.mf.dispose();
    }
  });
});
