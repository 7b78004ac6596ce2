import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ConnectOptions,
  connect,
  emptyProfile,
  expireLessons,
  fileProfileStore,
  getPathProfile,
  memoryProfileStore,
  type PathProfile,
  realClock,
  resetPathProfile,
  type StorageLike,
  storageProfileStore,
  upgradeProfile,
} from '../../src/client/index.js';
import type { TestServer } from '../helpers/server.js';
import {
  collect,
  proxyFor,
  publishSeries,
  startTestServer,
  testOptions,
  until,
} from './helpers.js';

function fakeStorage(): StorageLike & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

describe('profile stores', () => {
  it('memory: copies in and out', async () => {
    const store = memoryProfileStore();
    const p = emptyProfile('http://a');
    p.heartbeatMs = 10;
    await store.set(p);
    p.heartbeatMs = 20;
    expect((await store.get('http://a'))!.heartbeatMs).toBe(10);
    await store.delete('http://a');
    expect(await store.get('http://a')).toBeNull();
  });

  it('storage (localStorage): one key per origin, tolerant of garbage', async () => {
    const storage = fakeStorage();
    const store = storageProfileStore(storage);
    const p = emptyProfile('http://a');
    p.transport = 'ws';
    await store.set(p);
    expect([...storage.map.keys()]).toEqual(['outlast:path:http://a']);
    expect((await store.get('http://a'))!.transport).toBe('ws');
    storage.map.set('outlast:path:http://b', '{not json');
    expect(await store.get('http://b')).toBeNull();
  });

  it('file (Node): survives a new store on the same file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outlast-profile-'));
    try {
      const path = join(dir, 'paths.json');
      const p = emptyProfile('http://a');
      p.maxStreamMs.sse = 1234;
      await fileProfileStore(path).set(p);
      expect((await fileProfileStore(path).get('http://a'))!.maxStreamMs.sse).toBe(1234);
      expect(JSON.parse(await readFile(path, 'utf8'))['http://a'].origin).toBe('http://a');
      await resetPathProfile('http://a/x', fileProfileStore(path));
      expect(await getPathProfile('http://a/y', fileProfileStore(path))).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pathProfile is readable and resettable from a connection', async () => {
    const server = await startTestServer({ heartbeatMs: 50 });
    const proxy = await proxyFor(server, { preset: 'corporate-av' });
    try {
      const store = memoryProfileStore();
      await server.outlast.publish('a', { data: 0 });
      const conn = connect(`${proxy.base}/streams/a`, testOptions({ profile: store }));
      const p = publishSeries(server, 'a', 10, 40);
      await collect(conn);
      await p;
      expect(conn.pathProfile).toMatchObject({
        outlast: true,
        transport: 'ws',
        avoid: { sse: 'buffering' },
      });
      expect(conn.pathProfile!.notes[0]).toMatch(/^buffering: /);
      expect((await store.get(new URL(proxy.url).origin))!.transport).toBe('ws');
      await conn.resetPathProfile();
      expect(conn.pathProfile).toMatchObject({ transport: null, avoid: {} });
      expect(await store.get(new URL(proxy.url).origin)).toBeNull();
    } finally {
      await proxy.close();
      await server.close();
    }
  });
});

describe('lesson expiry', () => {
  const HOUR = 3_600_000;
  /** A profile that learned to avoid SSE (buffering) and start on WebSocket, `ageMs` ago. */
  const learned = (origin: string, ageMs: number) => ({
    ...emptyProfile(origin),
    outlast: true,
    transport: 'ws' as const,
    avoid: { sse: 'buffering' as const },
    heartbeatMs: 500,
    notes: ['buffering: SSE headers came, no body byte; sse avoided on this path, moving to ws'],
    updatedAt: Date.now() - ageMs,
  });

  it.each([
    [
      'older than lessonTtlMs (default 24 h): forgotten, the path is re-validated from sse',
      25 * HOUR,
      {},
      'sse',
    ],
    ['younger: kept, the connection starts on ws', 23 * HOUR, {}, 'ws'],
    ['lessonTtlMs: null never expires', 1_000 * HOUR, { lessonTtlMs: null }, 'ws'],
    ['a shorter lessonTtlMs', 2 * HOUR, { lessonTtlMs: HOUR }, 'sse'],
  ])('%s', async (_name, ageMs, extra, first) => {
    const server = await startTestServer();
    try {
      const store = memoryProfileStore();
      await store.set(learned(server.origin, ageMs));
      const conn = connect(`${server.base}/streams/s`, testOptions({ profile: store, ...extra }));
      const publishing = publishSeries(server, 's', 3, 5);
      const opens: string[] = [];
      conn.on('open', (o) => opens.push(o.transport));
      await collect(conn);
      await publishing;
      expect(opens[0]).toBe(first);
      const stored = await store.get(server.origin);
      if (first === 'sse') {
        expect(stored).toMatchObject({
          outlast: true,
          transport: null,
          avoid: {},
          heartbeatMs: null,
        });
        expect(stored!.notes.at(-1)).toMatch(/^expired: /);
      } else expect(stored).toMatchObject({ transport: 'ws', avoid: { sse: 'buffering' } });
    } finally {
      await server.close();
    }
  });
});

describe('lessons expire one by one and are re-validated', () => {
  const HOUR = 3_600_000;

  it('each lesson expires on its own; younger ones stay', () => {
    const now = 1_000 * HOUR;
    const p = {
      ...emptyProfile('http://a'),
      outlast: true,
      transport: 'ws' as const,
      avoid: { sse: 'buffering' as const },
      heartbeatMs: 450,
      idleMs: 1_000,
      totalMs: { ws: 9_000 },
      maxStreamMs: { ws: 7_200 },
      learnedAt: {
        'avoid.sse': now - 25 * HOUR,
        transport: now - 25 * HOUR,
        heartbeat: now - HOUR,
        'total.ws': now - 30 * HOUR,
      },
      updatedAt: now - HOUR,
    };
    expect(expireLessons(p, now, 24 * HOUR)).toBe(true);
    expect(p).toMatchObject({
      outlast: true,
      transport: null,
      avoid: {},
      heartbeatMs: 450,
      idleMs: 1_000,
      totalMs: {},
      maxStreamMs: {},
      learnedAt: { heartbeat: now - HOUR },
    });
    expect(p.notes.at(-1)).toBe(
      'expired: avoid.sse, transport, total.ws learned over 24 h ago forgotten; re-validating the path',
    );
    // Nothing older than the TTL is left: a second pass changes nothing.
    expect(expireLessons(p, now, 24 * HOUR)).toBe(false);
    expect(expireLessons(p, now + 24 * HOUR, 24 * HOUR)).toBe(true);
    expect(p.heartbeatMs).toBeNull();
  });

  it('a lesson dated further ahead than the TTL (the clock jumped back) expires too', () => {
    const now = 1_000 * HOUR;
    const p = {
      ...emptyProfile('http://a'),
      avoid: { sse: 'buffering' as const, ws: 'refused' as const },
      learnedAt: { 'avoid.sse': now + 30 * HOUR, 'avoid.ws': now + HOUR },
    };
    expect(expireLessons(p, now, 24 * HOUR)).toBe(true);
    expect(p.avoid).toEqual({ ws: 'refused' });
  });

  it('a stored profile with garbage fields loads as a sane profile', () => {
    const garbage = {
      origin: 'http://elsewhere',
      avoid: 'sse',
      learnedAt: null,
      totalMs: [1],
      notes: 'n',
      updatedAt: 'yesterday',
      transport: 'ws',
    } as unknown as Partial<PathProfile>;
    const p = upgradeProfile(garbage, 'http://a');
    expect(p).toMatchObject({
      origin: 'http://a',
      avoid: {},
      notes: [],
      updatedAt: 0,
      transport: 'ws',
      learnedAt: { transport: 0 },
    });
    expect(p.maxStreamMs).toEqual({});
    expect(p.totalMs).toEqual({});
  });

  it('a profile file saved by an older version (no lesson times) loads, its lessons dated from updatedAt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outlast-profile-'));
    const server = await startTestServer();
    try {
      const path = join(dir, 'paths.json');
      // The shape older versions wrote: no learnedAt (and no livedMs before that).
      const old = (ageMs: number) => ({
        origin: server.origin,
        outlast: true,
        transport: 'ws',
        heartbeatMs: null,
        maxStreamMs: {},
        idleMs: null,
        totalMs: {},
        avoid: { sse: 'buffering' },
        notes: [
          'buffering: SSE headers came, no body byte; sse avoided on this path, moving to ws',
        ],
        updatedAt: Date.now() - ageMs,
      });
      await writeFile(path, JSON.stringify({ [server.origin]: old(HOUR) }));
      const loaded = (await getPathProfile(server.origin, fileProfileStore(path)))!;
      expect(loaded.learnedAt).toEqual({
        'avoid.sse': loaded.updatedAt,
        transport: loaded.updatedAt,
      });
      expect(loaded.livedMs).toEqual({});

      const firstOpen = async (streamId: string) => {
        const conn = connect(
          `${server.base}/streams/${streamId}`,
          testOptions({ profile: { file: path } }),
        );
        const opens: string[] = [];
        conn.on('open', (o) => opens.push(o.transport));
        const publishing = publishSeries(server, streamId, 3, 5);
        await collect(conn);
        await publishing;
        return opens[0];
      };
      expect(await firstOpen('young')).toBe('ws');
      await writeFile(path, JSON.stringify({ [server.origin]: old(25 * HOUR) }));
      expect(await firstOpen('old')).toBe('sse');
      const saved = JSON.parse(await readFile(path, 'utf8'))[server.origin];
      expect(saved).toMatchObject({ avoid: {}, transport: null, learnedAt: {} });
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  /** The real clock, moved forward by `shift.ms` (timers stay real). */
  const shiftedClock = () => {
    const shift = { ms: 0 };
    return { shift, clock: { ...realClock, now: () => Date.now() + shift.ms } };
  };

  /** A job-like stream read once through `base`; what the connection saw. */
  async function readOnce(
    server: TestServer,
    base: string,
    streamId: string,
    options: ConnectOptions,
  ) {
    await server.outlast.publish(streamId, { data: 'first' });
    const conn = connect(
      `${base}/streams/${streamId}`,
      testOptions({ holdTimeoutMs: 300, ...options }),
    );
    const opens: string[] = [];
    const rules: string[] = [];
    conn.on('open', (o) => opens.push(o.transport));
    conn.on('learn', (l) => rules.push(l.rule));
    const publishing = publishSeries(server, streamId, 20, 40);
    const cuts: string[] = [];
    conn.on('cut', (c) => cuts.push(`${c.transport} ${c.cause}`));
    const got = await collect(conn);
    await publishing;
    return { opens, rules, cuts, events: got.length };
  }

  it.each([
    ['fixed: the client is back on SSE and forgets the lesson', true],
    ['still holding: the lesson is learned again with a fresh time', false],
  ])(
    'past lessonTtlMs, a path that held SSE is tried on SSE again; %s',
    async (_name, fixed) => {
      // Heartbeats 1 s apart: the stall watchdog (3 of them) stays far from the 300 ms hold
      // bound, so the race decides what is learned.
      const server = await startTestServer({ heartbeatMs: 1_000 });
      const proxy = await proxyFor(server, { preset: 'corporate-av' });
      try {
        const store = memoryProfileStore();
        const { shift, clock } = shiftedClock();
        const origin = new URL(proxy.url).origin;
        const first = await readOnce(server, proxy.base, 'one', { profile: store, clock });
        expect(first, 'the first run learns that the hop holds SSE').toMatchObject({
          rules: ['buffering'],
          cuts: ['sse stall'],
        });
        expect(first.events).toBe(21);
        const learnedAt = (await store.get(origin))!.learnedAt['avoid.sse']!;
        expect(Math.abs(learnedAt - Date.now())).toBeLessThan(5_000);

        // A day and an hour later (lessonTtlMs is 24 h by default).
        shift.ms = 25 * HOUR;
        if (fixed) proxy.set({ holdWhole: false });
        const second = await readOnce(server, proxy.base, 'two', { profile: store, clock });
        expect(second.events).toBe(21);
        const stored = (await store.get(origin))!;
        if (fixed) {
          expect(second).toMatchObject({ rules: [], cuts: [], opens: ['sse'] });
          expect(stored.avoid).toEqual({});
          expect(stored.learnedAt['avoid.sse']).toBeUndefined();
        } else {
          // SSE was tried first again, held, and the racing WebSocket won.
          expect(second).toMatchObject({ rules: ['buffering'], cuts: ['sse stall'] });
          expect(stored.avoid).toEqual({ sse: 'buffering' });
          expect(stored.learnedAt['avoid.sse']).toBeGreaterThanOrEqual(learnedAt + 25 * HOUR);
        }
      } finally {
        await proxy.close();
        await server.close();
      }
    },
    20_000,
  );

  it('a connection that lives on re-validates at its next reconnect once a lesson expired', async () => {
    const server = await startTestServer({ heartbeatMs: 100 });
    try {
      const store = memoryProfileStore();
      const { shift, clock } = shiftedClock();
      await store.set({
        ...emptyProfile(server.origin),
        outlast: true,
        transport: 'ws',
        avoid: { sse: 'buffering' },
        learnedAt: { 'avoid.sse': clock.now(), transport: clock.now() },
        updatedAt: Date.now(),
      });
      await server.outlast.publish('long', { data: 'first' });
      const conn = connect(
        `${server.base}/streams/long`,
        // The server rotates each connection after 300 ms: a reconnect without a failure.
        testOptions({ profile: store, clock, lessonTtlMs: HOUR, maxStreamMs: 300 }),
      );
      const opens: string[] = [];
      const moves: string[] = [];
      conn.on('open', (o) => opens.push(o.transport));
      conn.on('transport', (t) => moves.push(`${t.from}->${t.to}: ${t.reason}`));
      await until(() => opens.length === 1, 'the first open');
      shift.ms = 2 * HOUR;
      await until(() => opens.length === 2, 'the reconnect after the rotation');
      conn.close();
      expect(opens).toEqual(['ws', 'sse']);
      expect(moves).toEqual([
        'ws->sse: expired: avoid.sse, transport learned over 1 h ago forgotten; re-validating the path',
      ]);
      expect((await store.get(server.origin))!.avoid).toEqual({});
    } finally {
      await server.close();
    }
  });
});
