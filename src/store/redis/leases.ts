/*
 * Job leases. A running job's hash names its owner instance and holds its lease end (on the
 * Redis clock, so skewed instance clocks agree); the sorted set `leases` indexes them. The
 * owner renews every third of the lease; every instance looks for run-out leases as often. A
 * job whose owner stopped (crash, kill -9, partition) is marked `lost` and its stream ends
 * with `outlast.error` code `job-lost`, atomically, by whichever instance gets there first.
 *
 * Fencing: an owner whose renewal finds the job no longer its own (marked lost meanwhile), or
 * that could not renew for a whole lease (so another instance may have marked it), stops
 * holding it and tells the runner, which aborts the job's signal; its later writes are refused
 * by the settle script anyway (it checks state and owner).
 *
 * Renewal also reads back a stored cancel request, so a cancel whose Pub/Sub message was
 * dropped (a subscriber reconnecting) still reaches the owner within a third of a lease.
 *
 * Jobs are not resumed elsewhere: a job is an arbitrary user function holding its progress in
 * its own closure (an open file, a half-done OCR pass, an LLM call in flight). Nothing can
 * restart it from where it stopped, and running it again from the start could repeat side
 * effects the user did not make idempotent. The client is told clearly and may start it again.
 */

/** What one renewal found. */
export type Renewal = { fenced: true } | { fenced: false; cancel: string | null };

/** What the lease keeper needs from the store. */
export interface LeaseStore {
  /** Renews one job's lease if it is still this owner's. */
  renew(jobId: string): Promise<Renewal>;
  /** Moves the index entries of renewed leases. */
  index(jobIds: string[]): Promise<void>;
  expired(max: number): Promise<string[]>;
  /** Marks one job lost if its lease is still run out; `true` when this call did it. */
  markLost(jobId: string): Promise<boolean>;
}

/** What the keeper tells its store. */
export interface LeaseEvents {
  /** A job owned here is no longer (lost elsewhere, or unrenewable for a lease). */
  fenced(jobId: string): void;
  /** A cancel request stored for a job owned here. */
  cancel(jobId: string, reason: string): void;
  onError(error: unknown): void;
}

/** Renews the leases of jobs running here and reaps run-out ones, on one timer. */
export class LeaseKeeper {
  /** Jobs owned here, each with when its lease was last renewed (monotonic ms, at sending). */
  private readonly owned = new Map<string, number>();
  private readonly timer: ReturnType<typeof setInterval>;
  private busy = false;

  constructor(
    private readonly store: LeaseStore,
    private readonly leaseMs: number,
    private readonly events: LeaseEvents,
  ) {
    this.timer = setInterval(() => this.tick(), Math.max(10, leaseMs / 3));
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** A job this instance now owns (its lease was just taken). */
  own(jobId: string): void {
    this.owned.set(jobId, performance.now());
  }

  /** A job this instance no longer owns (settled, abandoned). */
  release(jobId: string): void {
    this.owned.delete(jobId);
  }

  /** Jobs owned here. */
  get size(): number {
    return this.owned.size;
  }

  private tick(): void {
    // Before anything that awaits: a Redis that does not answer must not keep a job alive
    // past its lease, since any other instance may already have marked it lost.
    const now = performance.now();
    for (const [jobId, renewed] of this.owned) {
      if (now - renewed > this.leaseMs) this.fence(jobId);
    }
    if (!this.busy) void this.renewAndReap();
  }

  private fence(jobId: string): void {
    if (!this.owned.delete(jobId)) return;
    this.events.fenced(jobId);
  }

  private async renewAndReap(): Promise<void> {
    this.busy = true;
    try {
      const sent = performance.now();
      const ids = [...this.owned.keys()];
      const results = await Promise.allSettled(ids.map((id) => this.store.renew(id)));
      const renewed: string[] = [];
      for (const [i, result] of results.entries()) {
        const jobId = ids[i]!;
        if (!this.owned.has(jobId)) continue;
        if (result.status === 'rejected') continue;
        if (result.value.fenced) {
          this.fence(jobId);
          continue;
        }
        this.owned.set(jobId, sent);
        renewed.push(jobId);
        if (result.value.cancel !== null) this.events.cancel(jobId, result.value.cancel);
      }
      if (renewed.length > 0) await this.store.index(renewed);
      for (const jobId of await this.store.expired(100)) {
        if (!this.owned.has(jobId)) await this.store.markLost(jobId);
      }
    } catch (error) {
      // Redis away: leases run on its clock, so nothing is reaped while it is gone either.
      this.events.onError(error);
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.owned.clear();
  }
}
