import { describe, expect, it } from 'vitest';
import { createMemoryStore, type MemoryStore } from '../../src/store/index.js';
import { runStoreSuite } from './store-suite.js';

runStoreSuite('memory', {
  create: async (options) => createMemoryStore({ sweepIntervalMs: null, ...options }),
  loseHistory: async (store) => (store as MemoryStore).clear(),
});

describe('memory store bounds', () => {
  it('evicts the least recently active idle stream past maxStreams', async () => {
    const store = createMemoryStore({ maxStreams: 3, sweepIntervalMs: null });
    for (const id of ['a', 'b', 'c']) await store.append(id, { event: 'message', data: id });
    await store.append('a', { event: 'message', data: 'a2' });
    await store.append('d', { event: 'message', data: 'd' });
    expect(store.size).toBe(3);
    expect(await store.info('b')).toBeNull();
    expect(await store.info('a')).not.toBeNull();
    await store.close();
  });

  it('refuses a new stream when every stream has readers', async () => {
    const store = createMemoryStore({ maxStreams: 2, sweepIntervalMs: null });
    const noop = { event() {}, end() {}, lost() {} };
    for (const id of ['a', 'b']) {
      await store.create(id);
      await store.subscribe(id, noop);
    }
    await expect(store.create('c')).rejects.toMatchObject({ code: 'store-full' });
    await store.close();
  });

  it('bounds total bytes by evicting idle streams', async () => {
    const store = createMemoryStore({ maxTotalBytes: 10_000, sweepIntervalMs: null });
    for (let i = 0; i < 20; i++) await store.append(`s${i}`, { event: 'm', data: 'x'.repeat(900) });
    expect(store.size).toBeLessThanOrEqual(6);
    expect(await store.info('s19')).not.toBeNull();
    await store.close();
  });

  it('sweeps idle streams and keeps those with readers', async () => {
    let clock = 0;
    const store = createMemoryStore({
      idleStreamTtlMs: 1000,
      sweepIntervalMs: 20,
      now: () => clock,
    });
    await store.append('idle', { event: 'm', data: '1' });
    await store.append('watched', { event: 'm', data: '1' });
    await store.subscribe('watched', { event() {}, end() {}, lost() {} });
    clock = 5000;
    await new Promise((r) => setTimeout(r, 80));
    expect(await store.info('idle')).toBeNull();
    expect(await store.info('watched')).not.toBeNull();
    await store.close();
  });

  it('sweeps expired job records and idempotency keys', async () => {
    let clock = 0;
    const store = createMemoryStore({ sweepIntervalMs: 20, now: () => clock });
    const rec = { id: 'j', state: 'succeeded' as const, createdAt: 0, updatedAt: 0 };
    await store.setJob(rec, 500);
    expect(await store.claimJobKey('k1', 'j', 500)).toBeNull();
    expect(await store.claimJobKey('k2', 'j2', 5_000)).toBeNull();
    expect(store.counts).toEqual({ streams: 0, jobRecords: 1, jobKeys: 2 });
    clock = 1_000;
    await new Promise((r) => setTimeout(r, 80));
    // Nothing read them again: the sweep alone dropped the expired ones.
    expect(store.counts).toEqual({ streams: 0, jobRecords: 0, jobKeys: 1 });
    expect(await store.claimJobKey('k2', 'other', 5_000)).toBe('j2');
    await store.close();
  });

  it('bounds job records, dropping settled ones first', async () => {
    const store = createMemoryStore({ maxJobRecords: 2, sweepIntervalMs: null });
    const rec = (id: string, state: 'running' | 'succeeded') => ({
      id,
      state,
      createdAt: 0,
      updatedAt: 0,
    });
    await store.setJob(rec('run', 'running'), null);
    await store.setJob(rec('done', 'succeeded'), null);
    await store.setJob(rec('new', 'running'), null);
    expect(await store.getJob('done')).toBeNull();
    expect(await store.getJob('run')).not.toBeNull();
    await store.close();
  });
});
