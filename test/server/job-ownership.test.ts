import { afterEach, describe, expect, it } from 'vitest';
import type { ServerOptions } from '../../src/server/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { closeIdle, sleep, startServer, type TestServer } from '../helpers/server.js';

/*
 * Jobs tied to who started them (the identity `authorize` answers), and idempotent starts.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

const authorize: ServerOptions['authorize'] = (request) => {
  const who = request.headers.get('x-user');
  return who === null ? true : { identity: who };
};

const post = (s: TestServer, name: string, headers: Record<string, string> = {}) =>
  fetch(`${s.base}/jobs/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
  });

describe('ownership', () => {
  it('hands the identity to the job, and hides the job from everyone else (404)', async () => {
    const seen: (string | undefined)[] = [];
    server = await startServer({
      authorize,
      jobs: {
        work: async (ctx) => {
          seen.push(ctx.identity);
          await sleep(100);
          return 'ok';
        },
      },
    });
    const res = await post(server, 'work', { 'x-user': 'ann' });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    expect(seen).toEqual(['ann']);
    for (const headers of [{ 'x-user': 'bob' }, {}] as Record<string, string>[]) {
      const get = await fetch(`${server.base}/jobs/${jobId}`, { headers });
      expect(get.status).toBe(404);
      // Exactly what an unknown id gets: the answer does not tell the job exists.
      const unknown = await fetch(`${server.base}/jobs/AAAAAAAAAAAAAAAAAAAAAA`, { headers });
      expect(await get.json()).toEqual(await unknown.json());
      const del = await fetch(`${server.base}/jobs/${jobId}`, { method: 'DELETE', headers });
      expect(del.status).toBe(404);
      const sse = connect('sse', server.base, jobId, { headers });
      expect((await sse.finished).status).toBe(404);
    }
    const reader = connect('sse', server.base, jobId, { headers: { 'x-user': 'ann' } });
    expect((await reader.finished).how).toBe('end');
    expect(eventsOf(reader.messages).at(-1)?.event).toBe('outlast.result');
    const mine = await fetch(`${server.base}/jobs/${jobId}`, { headers: { 'x-user': 'ann' } });
    const record = (await mine.json()) as Record<string, unknown>;
    expect(record.state).toBe('succeeded');
    expect(record).not.toHaveProperty('identity');
  });

  it('leaves a job started without an identity readable by anyone holding its id', async () => {
    server = await startServer({ authorize, jobs: { work: () => 'ok' } });
    const { jobId } = (await (await post(server, 'work')).json()) as { jobId: string };
    await sleep(50);
    const get = await fetch(`${server.base}/jobs/${jobId}`, { headers: { 'x-user': 'bob' } });
    expect(get.status).toBe(200);
  });
});

describe('idempotent start', () => {
  it('starts one job for one key, runs it once, and says so on the replays', async () => {
    let ran = 0;
    server = await startServer({
      authorize,
      jobs: {
        once: async () => {
          ran++;
          await sleep(100);
        },
      },
    });
    const key = { 'idempotency-key': 'order-42' };
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(server!, 'once', key)));
    const ids = await Promise.all(
      answers.map(async (r) => ((await r.json()) as { jobId: string }).jobId),
    );
    expect(new Set(ids).size).toBe(1);
    expect(answers.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    await sleep(150);
    expect(ran).toBe(1);
    // The same key from another identity, or for another handler, is another job.
    const ann = (await (await post(server, 'once', { ...key, 'x-user': 'ann' })).json()) as {
      jobId: string;
    };
    expect(ann.jobId).not.toBe(ids[0]);
    await sleep(150);
    expect(ran).toBe(2);
  });

  it('forgets a key after resultTtlMs', async () => {
    server = await startServer({ resultTtlMs: 150, jobs: { quick: () => 'ok' } });
    const key = { 'idempotency-key': 'k' };
    const first = ((await (await post(server, 'quick', key)).json()) as { jobId: string }).jobId;
    await sleep(400);
    const later = ((await (await post(server, 'quick', key)).json()) as { jobId: string }).jobId;
    expect(later).not.toBe(first);
  });

  it('refuses a malformed key with 400 bad-request', async () => {
    server = await startServer({ jobs: { quick: () => 'ok' } });
    for (const bad of ['', 'a b', 'x'.repeat(256), 'caf\u00e9', 'tab\there']) {
      const res = await fetch(`${server.base}/jobs/quick`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': bad },
      });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'bad-request' } });
    }
  });
});
