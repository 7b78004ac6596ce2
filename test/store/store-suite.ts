import { describe, expect, it } from 'vitest';
import type { JobRecord, Store, StoredEvent } from '../../src/store/index.js';

/** How the shared suite gets stores of one kind. */
export interface StoreSuiteFactory {
  /**
   * A new, empty store. The suite passes the retention it needs; a store maps these to its
   * own options. `now` is a fake clock the store must use for event times, age retention and
   * job TTLs.
   */
  create(options: {
    maxEventsPerStream?: number;
    maxBytesPerStream?: number;
    maxEventAgeMs?: number | null;
    now?: () => number;
  }): Promise<Store>;
  /** Makes the store lose every stream's history, as a restart without persistence does. */
  loseHistory(store: Store): Promise<void>;
  /**
   * A second store sharing `store`'s data, as another instance would (same Redis and prefix).
   * Absent for stores that live in one process.
   */
  peer?(store: Store): Promise<Store>;
}

const ev = (data: string, event = 'message') => ({ event, data });

/** Waits until `check()` holds (cancel requests may cross Redis Pub/Sub). */
async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records the cancel requests a store delivers. */
function cancels(store: Store) {
  const got: string[] = [];
  const unsubscribe = store.onCancel((jobId, reason) => got.push(`${jobId}:${reason}`));
  return { got, unsubscribe };
}

async function collect(store: Store, streamId: string) {
  const got: StoredEvent[] = [];
  let ended = 0;
  let lost = 0;
  const unsubscribe = await store.subscribe(streamId, {
    event: (e) => got.push(e),
    end: () => ended++,
    lost: () => lost++,
  });
  return {
    got,
    unsubscribe,
    get ended() {
      return ended;
    },
    get lost() {
      return lost;
    },
  };
}

/** Registers the store contract tests for one kind of store. */
export function runStoreSuite(name: string, factory: StoreSuiteFactory): void {
  describe(`store contract: ${name}`, () => {
    let clock = 1_000_000;
    const now = () => clock;
    const make = (options: Parameters<StoreSuiteFactory['create']>[0] = {}) =>
      factory.create({ now, ...options });

    describe('append and read', () => {
      it('gives strictly increasing ids {epoch}:{seq} of one epoch', async () => {
        const store = await make();
        const a = await store.append('s', ev('a'));
        const b = await store.append('s', ev('b', 'progress'));
        expect(a.id).toMatch(/^[^:]+:1$/);
        expect(b.seq).toBe(a.seq + 1);
        expect(b.id.split(':')[0]).toBe(a.id.split(':')[0]);
        expect(b.event).toBe('progress');
        expect(b.time).toBe(clock);
        await store.close();
      });

      it('reads fresh from the oldest retained, recovered after a known id', async () => {
        const store = await make();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await store.append('s', ev(`e${i}`))).id);
        const fresh = await store.read('s', null);
        expect(fresh?.resume).toBe('fresh');
        expect(fresh?.events.map((e) => e.data)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
        const after = await store.read('s', ids[2]!);
        expect(after?.resume).toBe('recovered');
        expect(after?.gap).toBeNull();
        expect(after?.events.map((e) => e.data)).toEqual(['e3', 'e4']);
        const atHead = await store.read('s', ids[4]!);
        expect(atHead?.events).toEqual([]);
        expect(atHead?.resume).toBe('recovered');
        await store.close();
      });

      it('honours the read limit', async () => {
        const store = await make();
        for (let i = 0; i < 5; i++) await store.append('s', ev(`e${i}`));
        const page = await store.read('s', null, 2);
        expect(page?.events.map((e) => e.data)).toEqual(['e0', 'e1']);
        const next = await store.read('s', page!.events[1]!.id, 2);
        expect(next?.events.map((e) => e.data)).toEqual(['e2', 'e3']);
        await store.close();
      });

      it('answers null for an unknown stream and creates empty streams on demand', async () => {
        const store = await make();
        expect(await store.read('nope', null)).toBeNull();
        expect(await store.info('nope')).toBeNull();
        const info = await store.create('empty');
        expect(info).toMatchObject({ firstId: null, lastId: null, length: 0, ended: false });
        expect((await store.read('empty', null))?.events).toEqual([]);
        expect((await store.create('empty')).epoch).toBe(info.epoch);
        await store.close();
      });

      it('keeps streams apart', async () => {
        const store = await make();
        await store.append('x', ev('x1'));
        await store.append('y', ev('y1'));
        expect((await store.read('x', null))?.events.map((e) => e.data)).toEqual(['x1']);
        expect((await store.read('y', null))?.events.map((e) => e.data)).toEqual(['y1']);
        await store.close();
      });
    });

    describe('resume outcomes', () => {
      it('reports a malformed id as a gap from the oldest retained', async () => {
        const store = await make();
        const first = await store.append('s', ev('a'));
        for (const bad of ['garbage', '', ':', '12', 'x:y', `${first.id}x`, 'a:0', 'a:-1']) {
          const r = await store.read('s', bad);
          expect(r?.resume, bad).toBe('gap');
          expect(r?.gap?.reason, bad).toMatch(/malformed|epoch/);
          expect(r?.gap?.requested).toBe(bad);
          expect(r?.gap?.resumeFrom).toBe(first.id);
          expect(r?.events.map((e) => e.data)).toEqual(['a']);
        }
        expect((await store.read('s', 'garbage'))?.gap?.reason).toBe('malformed');
        await store.close();
      });

      it('reports an id newer than anything appended as unknown', async () => {
        const store = await make();
        const a = await store.append('s', ev('a'));
        const forged = `${a.id.split(':')[0]}:99`;
        const r = await store.read('s', forged);
        expect(r?.gap?.reason).toBe('unknown');
        expect(r?.events.map((e) => e.data)).toEqual(['a']);
        await store.close();
      });

      it('reports ids older than count retention as evicted', async () => {
        const store = await make({ maxEventsPerStream: 3 });
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push((await store.append('s', ev(`e${i}`))).id);
        const info = await store.info('s');
        expect(info?.length).toBe(3);
        expect(info?.firstId).toBe(ids[3]);
        expect(info?.lastId).toBe(ids[5]);
        // The event right after ids[2] is retained: no gap.
        expect((await store.read('s', ids[2]!))?.resume).toBe('recovered');
        const r = await store.read('s', ids[1]!);
        expect(r?.resume).toBe('gap');
        expect(r?.gap).toEqual({ requested: ids[1], resumeFrom: ids[3], reason: 'evicted' });
        expect(r?.events.map((e) => e.data)).toEqual(['e3', 'e4', 'e5']);
        await store.close();
      });

      it('bounds bytes per stream but keeps the newest event', async () => {
        const store = await make({ maxBytesPerStream: 4096 });
        for (let i = 0; i < 10; i++) await store.append('s', ev('x'.repeat(1000)));
        const info = await store.info('s');
        expect(info!.bytes).toBeLessThanOrEqual(4096);
        expect(info!.length).toBeGreaterThan(0);
        await store.append('s', ev('y'.repeat(10_000)));
        expect((await store.info('s'))!.length).toBe(1);
        await store.close();
      });

      it('drops events past the age limit', async () => {
        const store = await make({ maxEventAgeMs: 1000 });
        const old = await store.append('s', ev('old'));
        clock += 600;
        await store.append('s', ev('mid'));
        clock += 600;
        await store.trim('s');
        const r = await store.read('s', null);
        expect(r?.events.map((e) => e.data)).toEqual(['mid']);
        expect((await store.read('s', old.id))?.resume).toBe('recovered');
        const before = `${old.id.split(':')[0]}:0`;
        expect((await store.read('s', before))?.resume).toBe('gap');
        await store.close();
      });

      it('detects lost history by epoch, never as continuity', async () => {
        const store = await make();
        await store.append('s', ev('a'));
        const b = await store.append('s', ev('b'));
        await factory.loseHistory(store);
        expect(await store.read('s', b.id)).toBeNull();
        const fresh = await store.append('s', ev('new'));
        expect(fresh.id.split(':')[0]).not.toBe(b.id.split(':')[0]);
        const r = await store.read('s', b.id);
        expect(r?.resume).toBe('gap');
        expect(r?.gap).toEqual({ requested: b.id, resumeFrom: fresh.id, reason: 'epoch' });
        expect(r?.events.map((e) => e.data)).toEqual(['new']);
        await store.close();
      });
    });

    describe('live subscription', () => {
      it('delivers appends in order, then the final event and end', async () => {
        const store = await make();
        await store.append('s', ev('before'));
        const sub = await collect(store, 's');
        await store.append('s', ev('one'));
        await store.append('s', ev('two'));
        const final = await store.end('s', ev('{"done":true}', 'outlast.result'));
        expect(sub.got.map((e) => e.data)).toEqual(['one', 'two', '{"done":true}']);
        expect(sub.ended).toBe(1);
        expect(final?.event).toBe('outlast.result');
        sub.unsubscribe();
        sub.unsubscribe();
        await store.close();
      });

      it('stops delivering after unsubscribe', async () => {
        const store = await make();
        await store.create('s');
        const sub = await collect(store, 's');
        await store.append('s', ev('a'));
        sub.unsubscribe();
        await store.append('s', ev('b'));
        expect(sub.got.map((e) => e.data)).toEqual(['a']);
        await store.close();
      });

      it('subscribe-then-read loses nothing and duplicates nothing', async () => {
        const store = await make();
        for (let i = 0; i < 3; i++) await store.append('s', ev(`e${i}`));
        const sub = await collect(store, 's');
        const appendLater = store.append('s', ev('e3'));
        const r = await store.read('s', null);
        await appendLater;
        const lastRead = r!.events.at(-1)!.seq;
        const merged = [...r!.events, ...sub.got.filter((e) => e.seq > lastRead)];
        expect(merged.map((e) => e.data)).toEqual(['e0', 'e1', 'e2', 'e3']);
        await store.close();
      });

      it('rejects subscribing to an unknown stream', async () => {
        const store = await make();
        await expect(
          store.subscribe('nope', { event() {}, end() {}, lost() {} }),
        ).rejects.toMatchObject({ code: 'unknown-stream' });
        await store.close();
      });

      it('tells subscribers when a stream is deleted', async () => {
        const store = await make();
        await store.create('s');
        const sub = await collect(store, 's');
        await store.delete('s');
        expect(sub.lost).toBe(1);
        expect(await store.info('s')).toBeNull();
        await store.close();
      });
    });

    describe('end', () => {
      it('marks done once the reader reaches the final event', async () => {
        const store = await make();
        const a = await store.append('s', ev('a'));
        const final = await store.end('s', ev('last'));
        const r = await store.read('s', a.id);
        expect(r).toMatchObject({ ended: true, done: true });
        expect(r?.events.map((e) => e.data)).toEqual(['last']);
        expect((await store.read('s', final!.id))?.done).toBe(true);
        expect((await store.read('s', null, 1))?.done).toBe(false);
        expect((await store.info('s'))?.lastId).toBe(final!.id);
        await store.close();
      });

      it('ends without a final event, once, and refuses later appends', async () => {
        const store = await make();
        await store.append('s', ev('a'));
        expect(await store.end('s')).toBeNull();
        expect(await store.end('s', ev('again'))).toBeNull();
        await expect(store.append('s', ev('late'))).rejects.toMatchObject({
          code: 'stream-ended',
        });
        expect((await store.info('s'))?.ended).toBe(true);
        await store.close();
      });
    });

    describe('job records', () => {
      const record = (id: string, state: JobRecord['state'] = 'running'): JobRecord => ({
        id,
        state,
        createdAt: clock,
        updatedAt: clock,
      });

      it('saves, replaces and returns copies', async () => {
        const store = await make();
        await store.setJob(record('j1'), null);
        expect(await store.getJob('j1')).toEqual(record('j1'));
        await store.setJob({ ...record('j1', 'succeeded'), result: { pages: 3 } }, 1000);
        expect(await store.getJob('j1')).toMatchObject({
          state: 'succeeded',
          result: { pages: 3 },
        });
        expect(await store.getJob('j2')).toBeNull();
        await store.close();
      });

      it('delivers a cancel request for a running job to every handler, with its reason', async () => {
        const store = await make();
        await store.setJob(record('j1'), null);
        const first = cancels(store);
        const second = cancels(store);
        expect(await store.requestCancel('j1', 'user left')).toBe(true);
        await eventually(() => first.got.length > 0 && second.got.length > 0, 'the request');
        expect(first.got).toEqual(['j1:user left']);
        expect(second.got).toEqual(['j1:user left']);
        // Asking does not settle anything: the runner that owns the job does.
        expect((await store.getJob('j1'))?.state).toBe('running');
        await store.close();
      });

      it('refuses to cancel unknown, expired and settled jobs, and tells nobody', async () => {
        const store = await make();
        const sub = cancels(store);
        for (const state of ['succeeded', 'failed', 'cancelled', 'lost'] as const) {
          await store.setJob(record(`settled-${state}`, state), 60_000);
          expect(await store.requestCancel(`settled-${state}`, 'x'), state).toBe(false);
        }
        expect(await store.requestCancel('unknown', 'x')).toBe(false);
        await store.setJob(record('expired', 'succeeded'), 100);
        clock += 200;
        expect(await store.requestCancel('expired', 'x')).toBe(false);
        // Requests are delivered in order: once this one arrived, none before it is pending.
        await store.setJob(record('marker'), null);
        expect(await store.requestCancel('marker', 'last')).toBe(true);
        await eventually(() => sub.got.length > 0, 'the marker request');
        expect(sub.got).toEqual(['marker:last']);
        await store.close();
      });

      it('stops delivering to a handler once unsubscribed', async () => {
        const store = await make();
        await store.setJob(record('j1'), null);
        const gone = cancels(store);
        const kept = cancels(store);
        gone.unsubscribe();
        gone.unsubscribe();
        expect(await store.requestCancel('j1', 'r')).toBe(true);
        await eventually(() => kept.got.length > 0, 'the request');
        expect(gone.got).toEqual([]);
        await store.close();
      });

      const peer = factory.peer;
      // Stores that live in one process have no other instance to ask through.
      if (peer !== undefined) {
        it('delivers a cancel requested through another instance sharing the data', async () => {
          const owner = await make();
          const other = await peer(owner);
          await owner.setJob(record('j1'), null);
          const atOwner = cancels(owner);
          expect(await other.requestCancel('j1', 'from afar')).toBe(true);
          await eventually(() => atOwner.got.length > 0, 'the request at the owner');
          expect(atOwner.got).toEqual(['j1:from afar']);
          await other.close();
          await owner.close();
        });
      }

      it('starts a job with its stream, and settles it once: record and final event together', async () => {
        const store = await make();
        await store.createJob(record('j1'));
        expect(await store.getJob('j1')).toEqual(record('j1'));
        expect((await store.info('j1'))?.ended).toBe(false);
        const done = { ...record('j1', 'succeeded'), result: 7 };
        const final = ev('{"result":7}', 'outlast.result');
        expect(await store.settleJob(done, 60_000, final)).toEqual(done);
        // A retry of the same settle (its answer lost) and a late rival both find it settled.
        expect(await store.settleJob(done, 60_000, final)).toEqual(done);
        const rival = { ...record('j1', 'failed'), error: { code: 'job-failed', message: 'x' } };
        expect(await store.settleJob(rival, 60_000, ev('{}', 'outlast.error'))).toEqual(done);
        const r = await store.read('j1', null);
        expect(r?.ended).toBe(true);
        expect(r?.events.map((e) => e.event)).toEqual(['outlast.result']);
        expect(await store.getJob('j1')).toEqual(done);
        expect(await store.settleJob(record('nope', 'succeeded'), 1000, final)).toBeNull();
        await store.close();
      });

      it('records a cancel request on a job started with createJob', async () => {
        const store = await make();
        await store.createJob(record('j1'));
        const sub = cancels(store);
        expect(await store.requestCancel('j1', 'stop')).toBe(true);
        await eventually(() => sub.got.length > 0, 'the request');
        expect(sub.got).toEqual(['j1:stop']);
        await store.close();
      });

      it('claims an idempotency key once, across every caller, until released', async () => {
        const store = await make();
        const claims = await Promise.all(
          ['a', 'b', 'c', 'd'].map((id) => store.claimJobKey('k', id, 60_000)),
        );
        const winners = claims.filter((c) => c === null);
        expect(winners).toHaveLength(1);
        const holder = ['a', 'b', 'c', 'd'][claims.indexOf(null)]!;
        expect(claims.filter((c) => c !== null).every((c) => c === holder)).toBe(true);
        // Only the holder can release it.
        await store.refreshJobKey('k', 'someone-else', 0);
        expect(await store.claimJobKey('k', 'e', 60_000)).toBe(holder);
        await store.refreshJobKey('k', holder, 0);
        expect(await store.claimJobKey('k', 'e', 60_000)).toBeNull();
        expect(await store.claimJobKey('other', 'f', 60_000)).toBeNull();
        await store.close();
      });

      it('expires records after their TTL', async () => {
        const store = await make();
        await store.setJob(
          { ...record('j1', 'failed'), error: { code: 'job-failed', message: 'x' } },
          500,
        );
        clock += 499;
        expect((await store.getJob('j1'))?.error?.code).toBe('job-failed');
        clock += 2;
        expect(await store.getJob('j1')).toBeNull();
        await store.close();
      });
    });
  });
}
