import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import type { StoredEvent } from '../../src/store/index.js';
import type { RedisStore, RedisStoreOptions } from '../../src/store/redis/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { command, type TestRedis } from '../helpers/redis-server.js';
import { testRedis, testRedisStore } from '../helpers/redis-store.js';
import { expectIdle, sleep, startServer, until } from '../helpers/server.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';

/*
 * Jobs on a real redis-server that pauses, and on instances cut off from it: settling is
 * retried, a lost job is fenced, idempotent starts run once across instances, and a cancel
 * survives a subscriber reconnect.
 */

let redis: TestRedis;
let counter = 0;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  redis = await testRedis();
});
afterEach(async () => {
  redis.resume();
  const things = open.splice(0).reverse();
  try {
    // Every test is a leak test: each server holds nothing once its clients and jobs are gone.
    for (const thing of things) {
      if ('outlast' in thing) await expectIdle(thing.outlast as Outlast);
      else if ('stats' in thing) await expectIdle(thing as Outlast);
    }
  } finally {
    for (const thing of things) await thing.close();
  }
});

/** A store of the file's redis-server (closed after the file), quick to reconnect. */
const store = (options: RedisStoreOptions = {}): Promise<RedisStore> =>
  testRedisStore({ reconnectMaxDelayMs: 100, ...options });

async function server(s: RedisStore, options: Parameters<typeof startServer>[0] = {}) {
  const started = await startServer({ store: s, ...options });
  open.push(started);
  return started;
}

function outlast(s: RedisStore): Outlast {
  const made = createOutlast({ store: s, onError: () => {} });
  open.push(made);
  return made;
}

function follow() {
  const events: StoredEvent[] = [];
  let ended = false;
  return {
    events,
    listener: { event: (e: StoredEvent) => events.push(e), end: () => (ended = true), lost() {} },
    get ended() {
      return ended;
    },
  };
}

describe('settling on Redis', () => {
  it('ends the stream and the record together after an 800 ms Redis pause at settle', async () => {
    const s = await store({ commandTimeoutMs: 300, jobLeaseMs: 5000 });
    const a = await server(s);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const job = await a.outlast.startJob(async () => {
      await gate;
      return { ok: true };
    });
    const reader = connect('sse', a.base, job.id, { query: { heartbeat: '200' } });
    await reader.waitFor((m) => m.type === 'open');
    redis.pause();
    release();
    await sleep(800);
    redis.resume();
    const finish = await Promise.race([reader.finished, sleep(10_000).then(() => null)]);
    expect(finish?.how, 'the reader got the end').toBe('end');
    const final = eventsOf(reader.messages).at(-1)!;
    expect(final.event).toBe('outlast.result');
    expect(await s.getJob(job.id)).toMatchObject({ state: 'succeeded', result: { ok: true } });
    expect((await job.settled).state).toBe('succeeded');
    // Exactly one final event, though the first attempt may have run after its timeout.
    const log = (await s.read(job.id, null))!.events;
    expect(log.filter((e) => e.event.startsWith('outlast.'))).toHaveLength(1);
  });
});

describe('fencing a lost job', () => {
  let relay: TcpRelay;
  afterEach(async () => {
    relay.resume();
    await relay.close();
  });

  it('aborts a job whose owner is cut off past its lease, and refuses its later writes', async () => {
    relay = await startTcpRelay(redis.port);
    const keyPrefix = `fence${counter++}:`;
    const owner = await store({
      url: relay.url,
      keyPrefix,
      jobLeaseMs: 300,
      commandTimeoutMs: 150,
    });
    const other = await store({ keyPrefix, jobLeaseMs: 300 });
    const runner = outlast(owner);
    outlast(other); // an instance that reaps run-out leases
    let abortReason: unknown;
    const job = await runner.startJob(async (ctx) => {
      ctx.signal.addEventListener('abort', () => {
        abortReason = ctx.signal.reason;
      });
      await ctx.progress('started');
      // It ignores the abort and finishes later, as a careless job would.
      await sleep(1500);
      await ctx.progress('too late').catch(() => {});
      return 'overwrite';
    });
    const seen = follow();
    await other.subscribe(job.id, seen.listener);
    // Cut off once its first progress is stored (else that write fails and the job with it).
    while (((await other.info(job.id))?.length ?? 0) < 1) await sleep(10);
    relay.pause();
    await until(() => seen.ended, 'the other instance to mark the job lost', 5000);
    expect(JSON.parse(seen.events.at(-1)!.data)).toMatchObject({ code: 'job-lost' });
    await until(() => abortReason !== undefined, 'the owner to abort the job', 5000);
    expect(abortReason).toMatchObject({ code: 'job-lost' });
    relay.resume();
    expect(await job.settled).toMatchObject({ state: 'lost' });
    await sleep(1700);
    // The job returned: its result was refused, the record and the stream still say lost.
    expect(await other.getJob(job.id)).toMatchObject({
      state: 'lost',
      error: { code: 'job-lost' },
    });
    const log = (await other.read(job.id, null))!.events;
    expect(log.map((e) => e.event)).toEqual(['progress', 'outlast.error']);
  });
});

describe('idempotent start across instances', () => {
  it('runs the function once for one key, whichever instance each retry reaches', async () => {
    const keyPrefix = `idem${counter++}:`;
    let ran = 0;
    const jobs = {
      once: async () => {
        ran++;
        await sleep(200);
        return 'done';
      },
    };
    const a = await server(await store({ keyPrefix }), { jobs });
    const b = await server(await store({ keyPrefix }), { jobs });
    const key = crypto.randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`${(i % 2 === 0 ? a : b).base}/jobs/once`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: '{}',
        }),
      ),
    );
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ jobId: string }>));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(202));
    expect(new Set(bodies.map((b) => b.jobId)).size).toBe(1);
    expect(answers.filter((r) => r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    const jobId = bodies[0]!.jobId;
    await until(() => ran === 1, 'the run');
    const reader = connect('sse', b.base, jobId);
    expect((await reader.finished).how).toBe('end');
    // After it settled, the key still names it.
    const late = await fetch(`${b.base}/jobs/once`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: '{}',
    });
    expect(((await late.json()) as { jobId: string }).jobId).toBe(jobId);
    expect(ran).toBe(1);
    // Another key is another job.
    const other = await fetch(`${a.base}/jobs/once`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
    });
    expect(((await other.json()) as { jobId: string }).jobId).not.toBe(jobId);
  });
});

describe('durable cancel', () => {
  it('cancels a job whose cancel message was dropped during a subscriber reconnect', async () => {
    const keyPrefix = `dc${counter++}:`;
    const ownerStore = await store({ keyPrefix, jobLeaseMs: 600 });
    const a = await server(ownerStore);
    const b = await server(await store({ keyPrefix, jobLeaseMs: 600 }));
    const job = await a.outlast.startJob(async (ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    });
    const reader = connect('sse', b.base, job.id, { query: { heartbeat: '200' } });
    await reader.waitFor((m) => m.type === 'open');
    // Every subscriber connection keeps dropping while the DELETE goes out: its Pub/Sub
    // message reaches nobody.
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await command(redis.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        await sleep(2);
      }
    })();
    await sleep(50);
    const res = await fetch(`${b.base}/jobs/${job.id}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    await sleep(100);
    killing = false;
    await killer;
    const record = await Promise.race([job.settled, sleep(5000).then(() => null)]);
    expect(record?.state, 'the owner cancelled the job').toBe('cancelled');
    expect((await reader.finished).how).toBe('end');
    expect(JSON.parse(eventsOf(reader.messages).at(-1)!.data)).toMatchObject({
      code: 'job-cancelled',
    });
  });
});

describe('ownership over Redis', () => {
  it('lets only the identity that started a job read, fetch and cancel it, on every instance', async () => {
    const keyPrefix = `own${counter++}:`;
    const authorize = (request: Request) => {
      const who = request.headers.get('x-user');
      return who === null ? ('unauthorized' as const) : { identity: who };
    };
    let seenIdentity: string | undefined;
    const jobs = {
      mine: async (ctx: { identity: string | undefined; signal: AbortSignal }) => {
        seenIdentity = ctx.identity;
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      },
    };
    const a = await server(await store({ keyPrefix }), { authorize, jobs });
    const b = await server(await store({ keyPrefix }), { authorize, jobs });
    const res = await fetch(`${a.base}/jobs/mine`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'ann' },
    });
    const { jobId } = (await res.json()) as { jobId: string };
    await until(() => seenIdentity !== undefined, 'the job to start');
    expect(seenIdentity).toBe('ann');
    for (const s of [a, b]) {
      const asBob = { 'x-user': 'bob' };
      const get = await fetch(`${s.base}/jobs/${jobId}`, { headers: asBob });
      expect(get.status).toBe(404);
      expect(await get.json()).toMatchObject({ error: { code: 'unknown-job' } });
      const del = await fetch(`${s.base}/jobs/${jobId}`, { method: 'DELETE', headers: asBob });
      expect(del.status).toBe(404);
      const read = await fetch(`${s.base}/jobs/${jobId}/events?transport=poll&wait=0`, {
        headers: asBob,
      });
      expect(read.status).toBe(404);
      const other = await fetch(`${s.base}/streams/${jobId}?transport=poll&wait=0`, {
        headers: asBob,
      });
      expect(other.status).toBe(404);
      const mine = await fetch(`${s.base}/jobs/${jobId}`, { headers: { 'x-user': 'ann' } });
      expect(mine.status).toBe(200);
      expect(await mine.json()).not.toHaveProperty('identity');
    }
    const cancel = await fetch(`${b.base}/jobs/${jobId}`, {
      method: 'DELETE',
      headers: { 'x-user': 'ann' },
    });
    expect(cancel.status).toBe(202);
  });
});
