import { createHash } from 'node:crypto';
import type { EventInput, JobRecord } from '../types.js';
import { call, type RedisConnection, type Script, storeError } from './connection.js';
import type { Keyspace } from './keys.js';
import { LeaseKeeper } from './leases.js';

/** What job records need from the store. */
export interface JobDeps {
  client: RedisConnection;
  keys: Keyspace;
  timeout: number;
  instanceId: string;
  jobLeaseMs: number;
  lostJobTtlMs: number;
  now: () => number;
  scripts: {
    setJob: Script;
    createJob: Script;
    settleJob: Script;
    renewJob: Script;
    renew: Script;
    expired: Script;
    markLost: Script;
    claimKey: Script;
    refreshKey: Script;
  };
  /** Runs a script, mapping failures to `OutlastError`. */
  run<T>(what: string, script: Script, keys: string[], args: string[]): Promise<T>;
  /** The write-script arguments (mode onwards) that create `streamId`, or end it with `final`. */
  writeArgs(streamId: string, mode: 'c' | 'f', final?: EventInput): string[];
  /** A job owned here is no longer (see LeaseKeeper). */
  fenced(jobId: string): void;
  /** A stored cancel request for a job owned here. */
  cancel(jobId: string, reason: string): void;
}

/** Job records with TTLs, and the leases of the jobs running here; see leases.ts. */
export function createJobRecords(d: JobDeps) {
  const { keys } = d;
  const streamKeys = (jobId: string) => {
    const k = keys.stream(jobId);
    return [k.meta, k.events, keys.job(jobId)];
  };

  /** Best effort: the index only helps find run-out leases; the job hash is the truth. */
  function unindex(jobId: string): void {
    call(d.client, ['ZREM', keys.leases, jobId], d.timeout).catch(() => {});
  }

  async function markLost(jobId: string): Promise<boolean> {
    let raw: string | null;
    try {
      raw = await call<string | null>(d.client, ['HGET', keys.job(jobId), 'r'], d.timeout);
    } catch (error) {
      throw storeError('read a job record', error);
    }
    const now = d.now();
    let record: JobRecord = { id: jobId, state: 'running', createdAt: now, updatedAt: now };
    try {
      if (raw !== null) record = JSON.parse(raw) as JobRecord;
    } catch {
      // Not ours or damaged: mark it lost all the same.
    }
    const error = {
      code: 'job-lost',
      message: `job ${jobId} was lost: the instance running it stopped renewing its lease (crashed, killed or cut off) before the job settled; start it again`,
    };
    const lost: JobRecord = { ...record, state: 'lost', error, updatedAt: now };
    const k = keys.stream(jobId);
    const done = await d.run<number>(
      'mark a job lost',
      d.scripts.markLost,
      [keys.job(jobId), k.meta, k.events],
      [
        JSON.stringify(lost),
        String(d.lostJobTtlMs),
        String(now + d.lostJobTtlMs),
        ...d.writeArgs(jobId, 'f', { event: 'outlast.error', data: JSON.stringify(error) }),
      ],
    );
    if (done !== 0) unindex(jobId);
    return done === 1;
  }

  const leases = new LeaseKeeper(
    {
      async renew(jobId) {
        const reply = await d.run<[string, string?, number?]>(
          'renew a job lease',
          d.scripts.renewJob,
          [keys.job(jobId)],
          [d.instanceId, String(d.jobLeaseMs)],
        );
        if (reply[0] !== 'ok') return { fenced: true };
        return { fenced: false, cancel: Number(reply[2]) === 1 ? String(reply[1]) : null };
      },
      async index(jobIds) {
        await d.run(
          'index job leases',
          d.scripts.renew,
          [keys.leases],
          [String(d.jobLeaseMs), ...jobIds],
        );
      },
      expired: (max) =>
        d.run<string[]>('list expired job leases', d.scripts.expired, [keys.leases], [String(max)]),
      markLost,
    },
    d.jobLeaseMs,
    {
      fenced: (jobId) => d.fenced(jobId),
      cancel: (jobId, reason) => d.cancel(jobId, reason),
      onError: () => {
        // Redis away: leases run on its clock, so nothing is reaped meanwhile either.
      },
    },
  );

  /** Adds a job to the lease index (separately: the index has a slot of its own). */
  async function index(jobId: string): Promise<void> {
    await d.run('index a job lease', d.scripts.renew, [keys.leases], [String(d.jobLeaseMs), jobId]);
  }

  function keyOf(key: string): string {
    return keys.jobKey(createHash('sha256').update(key).digest('hex'));
  }

  return {
    async setJob(record: JobRecord, ttlMs: number | null): Promise<void> {
      await d.run(
        'save a job record',
        d.scripts.setJob,
        [keys.job(record.id)],
        [
          JSON.stringify(record),
          record.state,
          d.instanceId,
          ttlMs === null ? '-1' : String(ttlMs),
          ttlMs === null ? '' : String(d.now() + ttlMs),
          String(d.jobLeaseMs),
        ],
      );
      if (record.state === 'running') {
        leases.own(record.id);
        await index(record.id);
      } else {
        leases.release(record.id);
        unindex(record.id);
      }
    },

    async createJob(record: JobRecord): Promise<void> {
      await d.run('start a job', d.scripts.createJob, streamKeys(record.id), [
        JSON.stringify(record),
        d.instanceId,
        String(d.jobLeaseMs),
        ...d.writeArgs(record.id, 'c'),
      ]);
      // Owned (renewed) from now; the index entry follows, a renewal repairs it if it failed.
      leases.own(record.id);
      await index(record.id).catch(() => {});
    },

    async settleJob(
      record: JobRecord,
      ttlMs: number,
      final: EventInput,
    ): Promise<JobRecord | null> {
      const reply = await d.run<[string, string | null | undefined]>(
        'settle a job',
        d.scripts.settleJob,
        streamKeys(record.id),
        [
          JSON.stringify(record),
          record.state,
          d.instanceId,
          String(ttlMs),
          String(d.now() + ttlMs),
          ...d.writeArgs(record.id, 'f', final),
        ],
      );
      leases.release(record.id);
      unindex(record.id);
      if (reply[0] === 'ok') return record;
      if (reply[0] === 'gone' || typeof reply[1] !== 'string') return null;
      return JSON.parse(reply[1]) as JobRecord;
    },

    abandonJob(jobId: string): void {
      // No longer renewed: once the lease runs out, any instance (this one too) marks it lost.
      leases.release(jobId);
    },

    async claimJobKey(key: string, jobId: string, ttlMs: number): Promise<string | null> {
      const held = await d.run<string | null>(
        'claim an idempotency key',
        d.scripts.claimKey,
        [keyOf(key)],
        [jobId, String(ttlMs)],
      );
      return held ?? null;
    },

    async refreshJobKey(key: string, jobId: string, ttlMs: number): Promise<void> {
      await d.run(
        'refresh an idempotency key',
        d.scripts.refreshKey,
        [keyOf(key)],
        [jobId, String(ttlMs)],
      );
    },

    async getJob(jobId: string): Promise<JobRecord | null> {
      let reply: [string | null, string | null];
      try {
        reply = await call(d.client, ['HMGET', keys.job(jobId), 'r', 'x'], d.timeout);
      } catch (error) {
        throw storeError('read a job record', error);
      }
      const [raw, expiresAt] = reply;
      if (raw === null) return null;
      // The key's Redis TTL runs on the real clock; this check honours the store's clock.
      if (expiresAt !== null && expiresAt !== '' && Number(expiresAt) <= d.now()) return null;
      return JSON.parse(raw) as JobRecord;
    },

    stop(): void {
      leases.stop();
    },
  };
}
