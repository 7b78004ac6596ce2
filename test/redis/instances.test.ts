import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Outlast } from '../../src/server/index.js';
import {
  type Connection,
  connect,
  eventsOf,
  type Finish,
  type TransportKind,
} from '../helpers/clients.js';
import { type Cluster, type Haproxy, type Instance, startCluster } from '../helpers/cluster.js';
import { sleep } from '../helpers/server.js';

/*
 * Three outlast processes sharing one redis-server, behind a real HAProxy (round-robin, no
 * sticky sessions, short server and tunnel timeouts that cut idle streams). The test process
 * publishes through a fourth Redis store of its own, so every delivery crosses Redis.
 */

const HAPROXY_IDLE_MS = 800;
let instances: Instance[] = [];
let lb: Haproxy;
let publisher: Outlast;
const prefix = `cluster${process.pid}:`;

let cluster: Cluster | undefined;

beforeAll(async () => {
  cluster = await startCluster({
    prefix,
    timeouts: { server: HAPROXY_IDLE_MS, tunnel: HAPROXY_IDLE_MS },
  });
  ({ instances, lb } = cluster);
  publisher = cluster.outlast;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Instances that served reads of `streamId` over `kind`. */
async function servedBy(streamId: string, kind: string): Promise<string[]> {
  const all = await Promise.all(instances.map(async (i) => [i.id, await i.hits()] as const));
  return all.filter(([, hits]) => (hits[streamId]?.[kind] ?? 0) > 0).map(([id]) => id);
}

describe('several instances behind HAProxy', () => {
  it('sends successive long-polls to different instances', async () => {
    await publisher.publish('polls', { data: 'x' });
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${lb.base}/streams/polls?transport=poll&wait=0`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { events: { data: string }[] };
      expect(body.events.map((e) => e.data)).toEqual(['x']);
      seen.push(res.headers.get('outlast-instance') ?? '?');
    }
    expect(new Set(seen)).toEqual(new Set(['a', 'b', 'c']));
  });

  describe.each<TransportKind>(['sse', 'ws', 'poll'])('transport %s', (kind) => {
    it('resumes on other instances with no loss and no duplicate under repeated cuts', async () => {
      const streamId = `cuts-${kind}`;
      const random = prng(kind.length * 104_729);
      const sent: string[] = [];
      await publisher.publish(streamId, { data: 'e0' });
      sent.push('e0');
      const publishing = (async () => {
        for (let i = 1; i <= 120; i++) {
          await publisher.publish(streamId, { data: `e${i}` });
          sent.push(`e${i}`);
          // Now and then stay silent longer than HAProxy's idle timeouts: it cuts the stream.
          await sleep(i % 30 === 0 ? HAPROXY_IDLE_MS + 300 : 5 + random() * 15);
        }
        await publisher.end(streamId, { event: 'done', data: 'last' });
        sent.push('last');
      })();
      const got: string[] = [];
      let last: string | null = null;
      let reconnects = 0;
      let pathCuts = 0;
      let done = false;
      const deadline = Date.now() + 60_000;
      while (!done && Date.now() < deadline) {
        const conn: Connection = connect(kind, lb.base, streamId, {
          lastEventId: last,
          // Long-polls hold less than HAProxy's timeout; SSE and WebSocket get cut by it.
          query: kind === 'poll' ? { wait: '500' } : {},
        });
        // Half the SSE and WebSocket connections are cut by the client at a random point, the
        // others run until HAProxy cuts them; a long-poll client (which polls on and on) is
        // always cut at some point.
        const timer =
          kind === 'poll' || random() < 0.5
            ? setTimeout(() => conn.cut(), 100 + random() * 400)
            : undefined;
        const finish: Finish = await conn.finished;
        clearTimeout(timer);
        if (finish.how === 'closed' || finish.how === 'refused') pathCuts++;
        for (const e of eventsOf(conn.messages)) {
          got.push(e.data);
          last = e.id;
        }
        done = finish.how === 'end' || finish.status === 204;
        if (!done) {
          reconnects++;
          if (finish.how === 'refused') await sleep(50);
        }
      }
      await publishing;
      expect(got).toEqual(sent);
      expect(reconnects).toBeGreaterThan(3);
      if (kind !== 'poll') expect(pathCuts).toBeGreaterThan(0);
      expect((await servedBy(streamId, kind)).length).toBeGreaterThanOrEqual(2);
    }, 90_000);
  });

  it('streams a job started on one instance from the others', async () => {
    const res = await fetch(`${lb.base}/jobs/steps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 15, ms: 40 }),
    });
    expect(res.status).toBe(202);
    const owner = res.headers.get('outlast-instance');
    const { jobId } = (await res.json()) as { jobId: string };
    const others = instances.filter((i) => i.id !== owner);
    expect(others).toHaveLength(2);
    const conns = [
      connect('sse', others[0]!.base, jobId, { query: { heartbeat: '1000' } }),
      connect('ws', others[1]!.base, jobId, { query: { heartbeat: '1000' } }),
      connect('poll', others[0]!.base, jobId, { query: { wait: '500' } }),
    ];
    const results = await Promise.all(conns.map((c) => c.finished));
    for (const [i, conn] of conns.entries()) {
      expect(results[i]!.how).toBe('end');
      const events = eventsOf(conn.messages);
      expect(events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data))).toEqual(
        Array.from({ length: 15 }, (_, step) => ({ step, by: owner })),
      );
      expect(events.at(-1)).toMatchObject({ event: 'outlast.result' });
      expect(JSON.parse(events.at(-1)!.data)).toEqual({ result: { steps: 15, by: owner } });
    }
    const record = await (await fetch(`${others[1]!.base}/jobs/${jobId}`)).json();
    expect(record).toMatchObject({ state: 'succeeded', result: { steps: 15, by: owner } });
  }, 60_000);

  // Last: it kills an instance.
  it('tells the clients of a job whose instance was killed: job-lost', async () => {
    const res = await fetch(`${lb.base}/jobs/forever`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(202);
    const ownerId = res.headers.get('outlast-instance');
    const { jobId } = (await res.json()) as { jobId: string };
    const owner = instances.find((i) => i.id === ownerId)!;
    const others = instances.filter((i) => i !== owner);
    const conns = [
      connect('sse', others[0]!.base, jobId, { query: { heartbeat: '1000' } }),
      connect('ws', others[1]!.base, jobId, { query: { heartbeat: '1000' } }),
      connect('poll', others[1]!.base, jobId, { query: { wait: '500' } }),
    ];
    for (const conn of conns) {
      await conn.waitFor((m) => m.type === 'event' && m.data.includes('"step":2'), 10_000);
    }
    const killedAt = Date.now();
    await owner.kill();
    const results = await Promise.all(conns.map((c) => c.finished));
    const tookMs = Date.now() - killedAt;
    for (const [i, conn] of conns.entries()) {
      expect(results[i]!.how).toBe('end');
      const final = eventsOf(conn.messages).at(-1)!;
      expect(final.event).toBe('outlast.error');
      expect(JSON.parse(final.data)).toMatchObject({ code: 'job-lost' });
    }
    // Lease 1000 ms, checked every third of it: well within a few seconds even under load.
    expect(tookMs).toBeLessThan(10_000);
    const record = (await (await fetch(`${others[0]!.base}/jobs/${jobId}`)).json()) as {
      state: string;
      error: { code: string };
    };
    expect(record.state).toBe('lost');
    expect(record.error.code).toBe('job-lost');
    // Through the load balancer too (the dead instance is skipped): the whole story.
    const late = connect('sse', lb.base, jobId);
    expect((await late.finished).how).toBe('end');
    expect(eventsOf(late.messages).at(-1)?.event).toBe('outlast.error');
  }, 60_000);

  // After the job-lost test: two instances left, and this kills one more mid-stream.
  it('moves the readers of an instance killed mid-stream to the others, losing nothing', async () => {
    const streamId = 'killed-mid-stream';
    const alive = [];
    for (const i of instances)
      if (i.process.exitCode === null && i.process.signalCode === null) alive.push(i);
    expect(alive.length).toBeGreaterThanOrEqual(2);
    const sent: string[] = [];
    await publisher.publish(streamId, { data: 's0' });
    sent.push('s0');
    let cut = 0;
    const readers = (['sse', 'ws', 'poll'] as const).flatMap((kind) =>
      [0, 1].map(async () => {
        const got: string[] = [];
        let last: string | null = null;
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          const conn = connect(kind, lb.base, streamId, {
            lastEventId: last,
            query: kind === 'poll' ? { wait: '500' } : {},
          });
          const finish = await conn.finished;
          for (const e of eventsOf(conn.messages)) {
            got.push(e.data);
            last = e.id;
          }
          if (finish.how === 'end' || finish.status === 204) return got;
          cut++;
          if (finish.how === 'refused') await sleep(50);
        }
        throw new Error(`${kind} reader did not finish`);
      }),
    );
    for (let i = 1; i <= 80; i++) {
      if (i === 30) await alive[0]!.kill();
      await publisher.publish(streamId, { data: `s${i}` });
      sent.push(`s${i}`);
      await sleep(15);
    }
    await publisher.end(streamId);
    for (const got of await Promise.all(readers)) expect(got).toEqual(sent);
    // SSE and WebSocket readers on the killed instance were cut (long-polls simply went on).
    expect(cut).toBeGreaterThan(0);
  }, 90_000);
});
