import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/store/index.js';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { type Connection, connect, eventsOf, type TransportKind } from '../helpers/clients.js';
import { command, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { closeIdle, sleep, startServer, type TestServer } from '../helpers/server.js';

/*
 * Event ids across real redis-server restarts, with the default (restarted data not trusted):
 * a restart that kept the data (AOF, or a dump written at shutdown) keeps every id, so a
 * reader resumes with nothing lost or repeated; a restart that lost or rolled back data is a
 * gap for readers past what came back; and no id ever names two different events.
 */

const servers: TestRedis[] = [];
const stores: RedisStore[] = [];
let counter = 0;
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});
afterAll(async () => {
  for (const r of servers) await r.close();
});

async function redisWith(args: string[]): Promise<TestRedis> {
  const r = await startRedis({ args });
  servers.push(r);
  return r;
}

async function storeOn(r: TestRedis): Promise<RedisStore> {
  const s = await createRedisStore({
    url: r.url,
    keyPrefix: `r${counter++}:`,
    onConnectionChange: null,
    reconnectMaxDelayMs: 50,
  });
  stores.push(s);
  return s;
}

/** Runs `call`, retrying while Redis comes back. */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await call();
    } catch (error) {
      if (i > 200) throw error;
      await sleep(25);
    }
  }
}

const append = (s: RedisStore, data: string) =>
  retrying(() => s.append('s', { event: 'message', data }));

/** Every id seen must always name the same data. */
function ledger() {
  const byId = new Map<string, string>();
  return {
    see(events: StoredEvent[]) {
      for (const e of events) {
        const known = byId.get(e.id);
        if (known !== undefined) expect(known, `id ${e.id}`).toBe(e.data);
        byId.set(e.id, e.data);
      }
    },
  };
}

describe('ids across Redis restarts (restarted data not trusted, the default)', () => {
  it.each([
    ['AOF on, everysec, clean shutdown', ['--appendonly', 'yes'], { save: true }],
    ['AOF on, always, killed', ['--appendonly', 'yes', '--appendfsync', 'always'], { crash: true }],
    ['no AOF, dump at shutdown', [], { save: true }],
  ] as const)('keeps every id when the data survived: %s', async (_, args, how) => {
    const r = await redisWith([...args]);
    const s = await storeOn(r);
    const ids = ledger();
    const before: StoredEvent[] = [];
    for (let i = 0; i < 5; i++) before.push(await append(s, `e${i}`));
    ids.see(before);
    await r.stop(how);
    await r.start();
    const after = [await append(s, 'after')];
    ids.see(after);
    // A reader at any id from before resumes with exactly what followed it.
    for (let k = 0; k < before.length; k++) {
      const read = await s.read('s', before[k]!.id);
      expect(read?.resume, `after ${before[k]!.id}`).toBe('recovered');
      expect(read?.events.map((e) => e.data)).toEqual([
        ...before.slice(k + 1).map((e) => e.data),
        'after',
      ]);
      ids.see(read!.events);
    }
    const whole = await s.read('s', null);
    expect(whole?.events.map((e) => e.id).slice(0, 5)).toEqual(before.map((e) => e.id));
    ids.see(whole!.events);
    // New events after the restart: a new epoch, the seq goes on.
    expect(after[0]!.seq).toBe(6);
    expect(after[0]!.id.split(':')[0]).not.toBe(before[0]!.id.split(':')[0]);
  });

  it('tells a gap to readers past a rollback, and never reuses their ids', async () => {
    const r = await redisWith([]);
    const s = await storeOn(r);
    const ids = ledger();
    const kept: StoredEvent[] = [];
    for (let i = 0; i < 3; i++) kept.push(await append(s, `kept${i}`));
    // A snapshot here; the next events are acknowledged but only in memory.
    expect(await command(r.port, ['SAVE'])).toContain('OK');
    const rolledBack: StoredEvent[] = [];
    for (let i = 0; i < 3; i++) rolledBack.push(await append(s, `gone${i}`));
    ids.see([...kept, ...rolledBack]);
    await r.stop({ crash: true });
    await r.start();
    // Before anything new: a gap, and nothing to send (the reader has all that was kept).
    for (const seen of rolledBack) {
      const read = await retrying(() => s.read('s', seen.id));
      expect(read).toMatchObject({ resume: 'gap', events: [] });
      expect(read?.gap).toEqual({ requested: seen.id, resumeFrom: null, reason: 'epoch' });
    }
    const fresh: StoredEvent[] = [];
    for (let i = 0; i < 3; i++) fresh.push(await append(s, `new${i}`));
    ids.see(fresh);
    // Same seqs as the lost events, never the same ids.
    expect(fresh.map((e) => e.seq)).toEqual(rolledBack.map((e) => e.seq));
    for (const [i, e] of fresh.entries()) expect(e.id).not.toBe(rolledBack[i]!.id);
    // A reader that had seen a rolled-back event: a gap, then the events appended since, not
    // the kept ones again (it had them: it was past them).
    for (const seen of rolledBack) {
      const read = await s.read('s', seen.id);
      expect(read?.resume).toBe('gap');
      expect(read?.gap).toEqual({ requested: seen.id, resumeFrom: fresh[0]!.id, reason: 'epoch' });
      expect(read?.events.map((e) => e.data)).toEqual(['new0', 'new1', 'new2']);
      ids.see(read!.events);
    }
    // A reader at a foreign id still starts from the oldest retained event.
    const foreign = await s.read('s', 'zzzzzzzzzz:2');
    expect(foreign?.gap?.resumeFrom).toBe(kept[0]!.id);
    expect(foreign?.events).toHaveLength(6);
    // A reader at a kept id loses nothing of what exists.
    const fromKept = await s.read('s', kept.at(-1)!.id);
    expect(fromKept?.resume).toBe('recovered');
    expect(fromKept?.events.map((e) => e.data)).toEqual(['new0', 'new1', 'new2']);
    ids.see(fromKept!.events);
  });

  it('tells a gap when the restart lost everything (no persistence)', async () => {
    const r = await redisWith([]);
    const s = await storeOn(r);
    const before = await append(s, 'x');
    await r.stop();
    await r.start();
    const after = await append(s, 'y');
    expect(after.id).not.toBe(before.id);
    expect((await s.read('s', before.id))?.gap?.reason).toBe('epoch');
  });

  it('keeps ids across several restarts, each epoch naming its own range', async () => {
    const r = await redisWith(['--appendonly', 'yes']);
    const s = await storeOn(r);
    const all: StoredEvent[] = [];
    for (let round = 0; round < 3; round++) {
      all.push(await append(s, `a${round}`), await append(s, `b${round}`));
      await r.stop({ save: true });
      await r.start();
    }
    await retrying(() => s.info('s'));
    for (const [k, e] of all.entries()) {
      const read = await s.read('s', e.id);
      expect(read?.resume, e.id).toBe('recovered');
      expect(read?.events.map((x) => x.data)).toEqual(all.slice(k + 1).map((x) => x.data));
    }
    const info = await s.info('s');
    expect(info?.firstId).toBe(all[0]!.id);
    expect(info?.lastId).toBe(all.at(-1)!.id);
  });

  describe('readers on every transport past a rollback', () => {
    let server: TestServer | undefined;
    afterEach(async () => {
      await closeIdle(server);
      server = undefined;
    });

    it('get an epoch gap and then only the new events, never the kept ones again', async () => {
      const r = await redisWith([]);
      const s = await storeOn(r);
      server = await startServer({ store: s });
      const base = server.base;
      const publish = (data: string) => retrying(() => server!.outlast.publish('s', { data }));
      for (let i = 0; i < 3; i++) await publish(`kept${i}`);
      expect(await command(r.port, ['SAVE'])).toContain('OK');
      for (let i = 0; i < 3; i++) await publish(`gone${i}`);
      const kinds: TransportKind[] = ['sse', 'ws', 'poll'];
      const query = (kind: TransportKind): Record<string, string> =>
        kind === 'poll' ? { wait: '300' } : { heartbeat: '1000' };
      // Each reader has read everything, the rolled-back events included.
      const last = new Map<TransportKind, string>();
      for (const kind of kinds) {
        const conn = connect(kind, base, 's', { lastEventId: null, query: query(kind) });
        await conn.waitFor((m) => m.type === 'event' && m.data === 'gone2');
        conn.cut();
        last.set(kind, eventsOf(conn.messages).at(-1)!.id);
      }
      await r.stop({ crash: true });
      await r.start();
      // They come back before anything new is published (an SSE or WebSocket read that finds
      // nothing to send after the gap), then new events come.
      const readers = new Map<TransportKind, Connection>();
      for (const kind of kinds) {
        for (let attempt = 0; ; attempt++) {
          const conn = connect(kind, base, 's', {
            lastEventId: last.get(kind)!,
            query: query(kind),
          });
          const first = await Promise.race([
            conn.waitFor((m) => m.type === 'open', 3_000).catch(() => null),
            conn.finished.then(() => null),
          ]);
          if (first !== null) {
            readers.set(kind, conn);
            break;
          }
          conn.cut();
          if (attempt > 40) throw new Error(`${kind}: the server did not come back`);
          await sleep(50);
        }
      }
      for (let i = 0; i < 3; i++) await publish(`new${i}`);
      for (const kind of kinds) {
        const reader = readers.get(kind)!;
        await reader.waitFor((m) => m.type === 'event' && m.data === 'new2');
        reader.cut();
        const gaps = reader.messages.filter((m) => m.type === 'gap');
        expect(gaps, kind).toMatchObject([{ requested: last.get(kind), reason: 'epoch' }]);
        expect(
          eventsOf(reader.messages).map((e) => e.data),
          kind,
        ).toEqual(['new0', 'new1', 'new2']);
      }
    }, 30_000);
  });
});
