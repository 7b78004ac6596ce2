import type { JobRecord } from '../types.js';

/*
 * Job leases. A running job's record names its owner instance, and the sorted set `leases`
 * holds its lease end (on the Redis clock, so skewed instance clocks agree). The owner renews
 * every third of the lease; every instance looks for run-out leases as often. A job whose
 * owner stopped (crash, kill -9, partition) is marked `lost` and its stream ends with
 * `outlast.error` code `job-lost`, atomically, by whichever instance gets there first.
 *
 * Jobs are not resumed elsewhere: a job is an arbitrary user function holding its progress in
 * its own closure (an open file, a half-done OCR pass, an LLM call in flight). Nothing can
 * restart it from where it stopped, and running it again from the start could repeat side
 * effects the user did not make idempotent. The client is told clearly and may start it again.
 */

/** What the lease keeper needs from the store. */
export interface LeaseStore {
  renew(jobIds: string[]): Promise<void>;
  expired(max: number): Promise<string[]>;
  /** Marks one job lost if its lease is still run out; `true` when this call did it. */
  markLost(jobId: string): Promise<boolean>;
}

/** Renews the leases of jobs running here and reaps run-out ones, on one timer. */
export class LeaseKeeper {
  /** Jobs running in this process (their records were saved here as `running`). */
  private readonly owned = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly store: LeaseStore,
    leaseMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.tick(), Math.max(10, leaseMs / 3)).unref();
  }

  /** Follows a saved record: running jobs are owned here until they settle. */
  saved(record: JobRecord): void {
    if (record.state === 'running') this.owned.add(record.id);
    else this.owned.delete(record.id);
  }

  /** Jobs owned here. */
  get size(): number {
    return this.owned.size;
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.owned.size > 0) await this.store.renew([...this.owned]);
      for (const jobId of await this.store.expired(100)) {
        if (!this.owned.has(jobId)) await this.store.markLost(jobId);
      }
    } catch (error) {
      // Redis away: leases run on its clock, so nothing is reaped while it is gone either.
      this.onError(error);
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.owned.clear();
  }
}
