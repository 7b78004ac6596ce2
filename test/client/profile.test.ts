import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  connect,
  emptyProfile,
  fileProfileStore,
  getPathProfile,
  memoryProfileStore,
  resetPathProfile,
  type StorageLike,
  storageProfileStore,
} from '../../src/client/index.js';
import { collect, proxyFor, publishSeries, startTestServer, testOptions } from './helpers.js';

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
