import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Outlast } from '../../src/server/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { type Cluster, type Haproxy, type Instance, startCluster } from '../helpers/cluster.js';

/*
 * Cancelling a job from an instance that does not run it: three outlast processes on one
 * redis-server behind a real HAProxy (round-robin, no stickiness), plus a Redis store and a
 * server in this test process. The cancel request goes from the instance that got the DELETE
 * (or `cancelJob`) to the job's owner over the store's cancel channel.
 */

let instances: Instance[] = [];
let lb: Haproxy;
let local: Outlast;
const prefix = `cancel${process.pid}:`;

let cluster: Cluster | undefined;

beforeAll(async () => {
  // Idle timeouts far above the test's pauses: nothing here is about cuts.
  cluster = await startCluster({ prefix, timeouts: { server: 30_000, tunnel: 30_000 } });
  ({ instances, lb } = cluster);
  local = cluster.outlast;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

/** Starts the `forever` job through the load balancer: its id and owner instance. */
async function startForever(): Promise<{ jobId: string; owner: string }> {
  const res = await fetch(`${lb.base}/jobs/forever`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(202);
  const owner = res.headers.get('outlast-instance');
  expect(owner).not.toBeNull();
  const { jobId } = (await res.json()) as { jobId: string };
  return { jobId, owner: owner! };
}

const getRecord = async (base: string, jobId: string) =>
  (await (await fetch(`${base}/jobs/${jobId}`)).json()) as {
    state: string;
    error?: { code: string; message: string };
  };

describe('cancelling a job on another instance', () => {
  it('cancels on its owner a job DELETEd through HAProxy on another instance, on every transport', async () => {
    const { jobId, owner } = await startForever();
    const others = instances.filter((i) => i.id !== owner);
    expect(others).toHaveLength(2);
    // Readers on every transport, none of them on the owner.
    const conns = [
      connect('sse', others[0]!.base, jobId, { query: { heartbeat: '1000' } }),
      connect('ws', others[1]!.base, jobId, { query: { heartbeat: '1000' } }),
      connect('poll', others[0]!.base, jobId, { query: { wait: '500' } }),
    ];
    for (const conn of conns) {
      await conn.waitFor((m) => m.type === 'event' && m.data.includes('"step":1'), 15_000);
    }
    // Round-robin: once the owner answered, the next request goes to another instance.
    for (let i = 0; ; i++) {
      expect(i).toBeLessThan(20);
      const res = await fetch(`${lb.base}/jobs/${jobId}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      if (res.headers.get('outlast-instance') === owner) break;
    }
    const res = await fetch(`${lb.base}/jobs/${jobId}`, { method: 'DELETE' });
    expect(res.headers.get('outlast-instance')).not.toBe(owner);
    expect(res.status).toBe(202);
    // The owner may not have settled it yet when the answer left: the record says which.
    expect(['running', 'cancelled']).toContain(((await res.json()) as { state: string }).state);

    const results = await Promise.all(conns.map((c) => c.finished));
    for (const [i, conn] of conns.entries()) {
      expect(results[i]!.how).toBe('end');
      const final = eventsOf(conn.messages).at(-1)!;
      expect(final.event).toBe('outlast.error');
      expect(JSON.parse(final.data)).toMatchObject({ code: 'job-cancelled' });
      // The job ran on its owner only (the DELETE did not start or run anything elsewhere).
      const steps = eventsOf(conn.messages).filter((e) => e.event === 'progress');
      for (const step of steps) expect(JSON.parse(step.data)).toMatchObject({ by: owner });
    }
    for (const instance of instances) {
      expect(await getRecord(instance.base, jobId)).toMatchObject({
        state: 'cancelled',
        error: { code: 'job-cancelled' },
      });
    }
    // Settled now: a second DELETE cancels nothing and says how the job ended.
    const again = await fetch(`${lb.base}/jobs/${jobId}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ state: 'cancelled' });
  }, 60_000);

  it('cancels with cancelJob from a process that does not run the job', async () => {
    const { jobId, owner } = await startForever();
    const reader = connect('sse', lb.base, jobId, { query: { heartbeat: '1000' } });
    await reader.waitFor((m) => m.type === 'event' && m.data.includes('"step":0'), 15_000);
    expect(await local.cancelJob(jobId, 'user left')).toBe(true);
    expect((await reader.finished).how).toBe('end');
    expect(JSON.parse(eventsOf(reader.messages).at(-1)!.data)).toEqual({
      code: 'job-cancelled',
      message: 'job cancelled: user left',
    });
    const record = await getRecord(instances.find((i) => i.id === owner)!.base, jobId);
    expect(record).toMatchObject({ state: 'cancelled' });
    expect(await local.cancelJob(jobId)).toBe(false);
    expect(await local.cancelJob('AAAAAAAAAAAAAAAAAAAAAA')).toBe(false);
  }, 60_000);

  it('answers 404 to a DELETE of an unknown job on every instance', async () => {
    for (const instance of instances) {
      const res = await fetch(`${instance.base}/jobs/AAAAAAAAAAAAAAAAAAAAAA`, {
        method: 'DELETE',
      });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'unknown-job' } });
    }
  });

  // Last: it kills an instance.
  it('leaves a job whose owner is dead to the leases: it becomes lost, not cancelled', async () => {
    const { jobId, owner } = await startForever();
    const dead = instances.find((i) => i.id === owner)!;
    const survivor = instances.find((i) => i !== dead)!;
    const reader = connect('sse', survivor.base, jobId, { query: { heartbeat: '1000' } });
    await reader.waitFor((m) => m.type === 'event' && m.data.includes('"step":0'), 15_000);
    await dead.kill();
    // The record still says running until the lease runs out: the request is taken, and
    // reaches nobody.
    const res = await fetch(`${survivor.base}/jobs/${jobId}`, { method: 'DELETE' });
    expect([200, 202]).toContain(res.status);
    expect((await reader.finished).how).toBe('end');
    expect(JSON.parse(eventsOf(reader.messages).at(-1)!.data)).toMatchObject({
      code: 'job-lost',
    });
    expect(await getRecord(survivor.base, jobId)).toMatchObject({ state: 'lost' });
  }, 60_000);
});
