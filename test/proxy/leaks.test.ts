import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createProxy, type HopKnobs } from '../../src/proxy/index.js';
import { rawRequest, sleep } from '../helpers/proxy-client.js';
import { startUpstream } from '../helpers/proxy-upstream.js';
import { wsOutcome } from '../helpers/proxy-ws.js';

const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'TCPWRAP'];

function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (WATCHED.includes(r)) out[r] = (out[r] ?? 0) + 1;
  }
  return out;
}

/** Opens a raw connection, writes `text`, and ends it the chosen way after `ms`. */
function rawThenCut(port: number, text: string, ms: number, how: 'fin' | 'rst'): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1');
    let cutTimer: ReturnType<typeof setTimeout> | undefined;
    const guard = setTimeout(() => s.destroy(), ms + 2000);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(guard);
      clearTimeout(cutTimer);
      resolve();
    });
    s.on('data', () => {});
    s.once('connect', () => {
      s.write(text);
      cutTimer = setTimeout(() => (how === 'rst' ? s.resetAndDestroy() : s.end()), ms);
    });
  });
}

type Way = {
  name: string;
  knobs: Partial<HopKnobs>;
  run: (url: string, port: number) => Promise<unknown>;
};

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;

const ways: Way[] = [
  {
    name: 'client FIN before headers',
    knobs: {},
    run: (_u, port) => rawThenCut(port, GET('/hang'), 20, 'fin'),
  },
  {
    name: 'client RST before headers',
    knobs: {},
    run: (_u, port) => rawThenCut(port, GET('/hang'), 20, 'rst'),
  },
  {
    name: 'client FIN mid-body',
    knobs: {},
    run: (_u, port) => rawThenCut(port, GET('/sse?every=5&count=0'), 30, 'fin'),
  },
  {
    name: 'client RST mid-body',
    knobs: {},
    run: (_u, port) => rawThenCut(port, GET('/sse?every=5&count=0'), 30, 'rst'),
  },
  {
    name: 'half a request head',
    knobs: {},
    run: (_u, port) => rawThenCut(port, 'GET /sse HTTP/1.1\r\nhos', 20, 'rst'),
  },
  { name: 'malformed request', knobs: {}, run: (u) => rawRequest(u, { raw: 'BAD\r\n\r\n' }) },
  { name: 'idle before headers (504)', knobs: { idleMs: 40 }, run: (u) => rawRequest(`${u}/hang`) },
  {
    name: 'idle after headers (FIN)',
    knobs: { idleMs: 40 },
    run: (u) => rawRequest(`${u}/silent`),
  },
  {
    name: 'total clock (RST)',
    knobs: { totalMs: 40, cut: 'rst' },
    run: (u) => rawRequest(`${u}/sse?every=5&count=0`),
  },
  {
    name: 'write deadline',
    knobs: { totalMs: 20, totalMode: 'write-deadline' },
    run: (u) => rawRequest(`${u}/sse?every=40&count=2`),
  },
  {
    name: 'reset fault',
    knobs: { resetAfterBytes: 100 },
    run: (u) => rawRequest(`${u}/bytes?n=5000`),
  },
  { name: 'upstream dies', knobs: {}, run: (u) => rawRequest(`${u}/die?after=20`) },
  {
    name: 'buffered and latency',
    knobs: { holdWhole: true, latencyMs: 5, sliceBytes: 7 },
    run: (u) => rawRequest(`${u}/sse?every=5&count=4`),
  },
  { name: 'complete, keep-alive', knobs: {}, run: (u) => rawRequest(`${u}/bytes?n=100`) },
  { name: 'WebSocket closed by idle', knobs: { idleMs: 40 }, run: (u) => wsOutcome(u, 0, 300) },
  { name: 'WebSocket closed by client', knobs: {}, run: (u) => wsOutcome(u, 5, 40) },
  { name: 'WebSocket refused', knobs: { websocket: 'refuse' }, run: (u) => wsOutcome(u, 5, 200) },
  {
    name: 'silent drop',
    knobs: { idleMs: 30, cut: 'silent' },
    run: (u) => rawRequest(`${u}/sse?every=60&count=3`, { timeoutMs: 150 }),
  },
  {
    name: 'connection refused',
    knobs: { refuseConnections: true },
    run: (u) => rawRequest(`${u}/bytes?n=1`),
  },
];

describe('no leaked sockets', () => {
  it('after 1 000 connections opened and cut in every way, zero open handles remain', async () => {
    await sleep(50);
    const before = handles();
    const up = await startUpstream();
    const proxy = await createProxy({ target: up.url, preset: 'cloudflare,aws-alb' });
    const port = Number(new URL(proxy.url).port);
    const perWay = Math.ceil(1000 / ways.length);
    let opened = 0;
    for (const way of ways) {
      // The knobs go on the inner hop; the outer hop keeps a pooled keep-alive to it.
      proxy.hop(1).reset();
      proxy.hop(1).set(way.knobs);
      if (way.knobs.refuseConnections) proxy.hop(0).set({ refuseConnections: true });
      for (let i = 0; i < perWay; i += 25) {
        const batch = [];
        for (let j = i; j < Math.min(perWay, i + 25); j++) batch.push(way.run(proxy.url, port));
        await Promise.all(batch);
        opened += batch.length;
      }
      proxy.hop(0).reset();
    }
    expect(opened).toBeGreaterThanOrEqual(1000);

    // While running: nothing in flight, no client connection left, upstream connections are
    // only the keep-alive pool.
    const deadline = Date.now() + 5000;
    const settled = () =>
      proxy.hops.every((h) => {
        const s = h.info(0).stats;
        return s.activeExchanges === 0 && s.activeTunnels === 0;
      }) && proxy.hop(0).info(0).stats.openConnections === 0;
    while (!settled() && Date.now() < deadline) await sleep(50);
    for (const h of proxy.hops) {
      const s = h.info(0).stats;
      expect(s.activeExchanges).toBe(0);
      expect(s.activeTunnels).toBe(0);
    }
    expect(proxy.hop(0).info(0).stats.openConnections).toBe(0);
    const pooled = Object.values(proxy.hop(1).agent.freeSockets).reduce(
      (n, l) => n + (l?.length ?? 0),
      0,
    );
    const inUse = Object.values(proxy.hop(1).agent.sockets).reduce(
      (n, l) => n + (l?.length ?? 0),
      0,
    );
    expect(inUse).toBe(0);
    expect(await up.connections()).toBeLessThanOrEqual(pooled);

    await proxy.close();
    await up.close();
    await sleep(100);
    // Nothing of ours is left: no socket, server or timer beyond what the runner had before.
    const after = handles();
    expect(after, JSON.stringify({ before, after })).toBeDefined();
    for (const name of WATCHED) expect(after[name] ?? 0).toBeLessThanOrEqual(before[name] ?? 0);
  });
});
