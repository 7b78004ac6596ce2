/*
 * Key layout. A stream's keys share the hash tag `{streamId}`, so the scripts that touch them
 * together stay valid on Redis Cluster (all keys of one script in one slot).
 *
 *   {prefix}{streamId}:m   hash: epoch, seq (last appended), ended (0/1), bytes (retained)
 *   {prefix}{streamId}:e   stream: one entry per retained event, id `{seq}-0`, fields t, e, d
 *   {prefix}{streamId}:c   Pub/Sub channel: live notifications (see fanout.ts)
 *   {prefix}{jobId}:j      hash: r (record JSON), s (state), o (owner instance), x (expiry),
 *                          l (lease end, Redis clock ms, while running), c (cancel requested:
 *                          its reason). Same hash tag as the job's stream: one slot.
 *   {prefix}leases         sorted set: index of running job ids by lease end (the job hash
 *                          is the truth; scripts never touch both)
 *   {prefix}cancel         Pub/Sub channel: cancel requests, `{"jobId","reason"}` (one for all jobs)
 *   {prefix}key:{sha256}   string: the job id an idempotency key names (hash of the scoped key)
 */

/** The keys of one stream. */
export interface StreamKeys {
  meta: string;
  events: string;
  channel: string;
}

/** Builds keys under one prefix. */
export function keyspace(prefix: string) {
  return {
    stream(streamId: string): StreamKeys {
      const base = `${prefix}{${streamId}}`;
      return { meta: `${base}:m`, events: `${base}:e`, channel: `${base}:c` };
    },
    job(jobId: string): string {
      return `${prefix}{${jobId}}:j`;
    },
    /** The key of an idempotency key (hashed: clients choose its text). */
    jobKey(hash: string): string {
      return `${prefix}key:${hash}`;
    },
    leases: `${prefix}leases`,
    /** The Pub/Sub channel of cancel requests, shared by every job and instance. */
    cancel: `${prefix}cancel`,
    /** A glob matching every key of this prefix (tests and `clear()`). */
    pattern: `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
  };
}

/** The keyspace of one store. */
export type Keyspace = ReturnType<typeof keyspace>;
