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
  scripts: { setJob: Script; renew: Script; expired: Script; markLost: Script };
  /** Runs a script, mapping failures to `OutlastError`. */
  run<T>(what: string, script: Script, keys: string[], args: string[]): Promise<T>;
  /** The write-script arguments (after the mode) that end `streamId` with `final`. */
  finalEventArgs(streamId: string, final: EventInput): string[];
}

/** Job records with TTLs, and the leases of the jobs running here; see leases.ts. */
export function createJobRecords(d: JobDeps) {
  const { keys } = d;

  async function markLost(jobId: string): Promise<boolean> {
    const jobKey = keys.job(jobId);
    let raw: string | null;
    try {
      raw = await call<string | null>(d.client, ['HGET', jobKey, 'r'], d.timeout);
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
      [jobKey, keys.leases, k.meta, k.events],
      [
        jobId,
        JSON.stringify(lost),
        String(d.lostJobTtlMs),
        String(now + d.lostJobTtlMs),
        ...d.finalEventArgs(jobId, { event: 'outlast.error', data: JSON.stringify(error) }),
      ],
    );
    return done === 1;
  }

  const leases = new LeaseKeeper(
    {
      async renew(jobIds) {
        await d.run(
          'renew job leases',
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
    () => {
      // Redis away: leases run on its clock, so nothing is reaped meanwhile either.
    },
  );

  return {
    async setJob(record: JobRecord, ttlMs: number | null): Promise<void> {
      await d.run(
        'save a job record',
        d.scripts.setJob,
        [keys.job(record.id), keys.leases],
        [
          record.id,
          JSON.stringify(record),
          record.state,
          d.instanceId,
          ttlMs === null ? '-1' : String(ttlMs),
          ttlMs === null ? '' : String(d.now() + ttlMs),
          String(d.jobLeaseMs),
        ],
      );
      leases.saved(record);
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
