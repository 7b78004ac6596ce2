import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosProxy, createProxy, type HopKnobs } from '../../src/proxy/index.js';
import { type RawResult, rawRequest } from '../helpers/proxy-client.js';
import { freePort, type RealProxy, startHaproxy, startNginx } from '../helpers/proxy-real.js';
import { startUpstream, type Upstream } from '../helpers/proxy-upstream.js';
import { wsOutcome } from '../helpers/proxy-ws.js';

/*
 * The same scenarios against the real software and against its preset configured with the
 * same timeouts (time scale 1, clocks of 500 ms). They must agree on what a client observes:
 * the status before headers, how and when (within 10 %) the connection ends, WebSocket
 * behaviour, buffering. Differences found while writing these are in docs/proxy.md and
 * docs/intermediaries-measured.md.
 */

const TIMEOUT = 500;
let up: Upstream;
beforeAll(async () => {
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});

/** Same status, same ending, end time within 10 % (at least 25 ms, for loaded CI machines). */
function expectSameCut(real: RawResult, ours: RawResult): void {
  expect(ours.status).toBe(real.status);
  expect(ours.end).toBe(real.end);
  const margin = Math.max(25, real.endAt * 0.1);
  expect(Math.abs(ours.endAt - real.endAt)).toBeLessThanOrEqual(margin);
}

async function both<T>(
  startReal: () => Promise<RealProxy>,
  startOurs: () => Promise<ChaosProxy>,
  scenario: (url: string) => Promise<T>,
): Promise<{ real: T; ours: T }> {
  const realProxy = await startReal();
  let real: T;
  try {
    real = await scenario(realProxy.url);
  } finally {
    await realProxy.stop();
  }
  const oursProxy = await startOurs();
  try {
    return { real, ours: await scenario(oursProxy.url) };
  } finally {
    await oursProxy.close();
  }
}

describe('fidelity: nginx 1.22 against the nginx preset', { retry: 2 }, () => {
  const real = () => startNginx({ upstreamPort: up.port, readTimeoutMs: TIMEOUT, buffering: true });
  const ours =
    (knobs: Partial<HopKnobs> = {}) =>
    () =>
      createProxy({ target: up.url, preset: 'nginx', knobs: { idleMs: TIMEOUT, ...knobs } });

  it('no headers within proxy_read_timeout: 504 before headers', async () => {
    const r = await both(real, ours(), (url) => rawRequest(`${url}/hang`));
    expect(r.real.status).toBe(504);
    expectSameCut(r.real, r.ours);
    expect(r.ours.headers.server).toMatch(/^nginx/);
  });

  it('headers then silence: the held 200 head goes out with a FIN at the timeout', async () => {
    const r = await both(real, ours(), (url) => rawRequest(`${url}/silent`));
    expect(r.real.status).toBe(200);
    expect(r.real.end).toBe('fin');
    expectSameCut(r.real, r.ours);
    expect(Math.abs(r.ours.headAt! - r.real.headAt!)).toBeLessThanOrEqual(
      Math.max(25, r.real.headAt! * 0.1),
    );
  });

  it('a busy stream is not cut and not buffered (proxy_buffering on streams reads as they come)', async () => {
    const r = await both(real, ours(), (url) => rawRequest(`${url}/sse?every=100&count=8`));
    expect(r.real.end).toBe('complete');
    expect(r.ours.end).toBe('complete');
    expect(r.ours.chunks.length).toBe(r.real.chunks.length);
    r.real.chunks.forEach((c, i) => {
      expect(Math.abs(r.ours.chunks[i]!.at - c.at)).toBeLessThan(60);
    });
  });

  it('the upstream dies mid-body: FIN to the client', async () => {
    const r = await both(real, ours(), (url) => rawRequest(`${url}/die?after=150`));
    expect(r.real.end).toBe('fin');
    expectSameCut(r.real, r.ours);
  });

  it('WebSocket: tunnelled, the read timeout is its idle clock', async () => {
    const busy = await both(real, ours(), (url) => wsOutcome(url, 100, 1200));
    expect(busy.real.closedAt).toBeNull();
    expect(busy.ours.closedAt).toBeNull();
    const silent = await both(real, ours(), (url) => wsOutcome(url, 0, 1200));
    expect(silent.real.closedAt).not.toBeNull();
    expect(Math.abs(silent.ours.closedAt! - silent.real.closedAt!)).toBeLessThanOrEqual(50);
  });

  it('unreachable upstream: 502 at once', async () => {
    const port = await freePort();
    const r = await both(
      () => startNginx({ upstreamPort: port, readTimeoutMs: TIMEOUT, buffering: true }),
      () => createProxy({ target: `http://127.0.0.1:${port}`, preset: 'nginx' }),
      (url) => rawRequest(`${url}/x`),
    );
    expect(r.real.status).toBe(502);
    expectSameCut(r.real, r.ours);
  });

  it('gzip on text/event-stream holds the stream to its end; X-Accel-Buffering: no streams it', async () => {
    const gz = { 'accept-encoding': 'gzip' };
    const held = await both(
      () => startNginx({ upstreamPort: up.port, readTimeoutMs: 1000, buffering: true, gzip: true }),
      () => createProxy({ target: up.url, preset: 'nginx-gzip', knobs: { idleMs: 1000 } }),
      async (url) => ({
        plain: await rawRequest(`${url}/sse?every=50&count=6`, { headers: gz }),
        accel: await rawRequest(`${url}/sse?every=50&count=6&accel=no`, { headers: gz }),
        noGzip: await rawRequest(`${url}/sse?every=50&count=6`),
      }),
    );
    expect(held.real.plain.chunks.length).toBe(1);
    expect(held.ours.plain.chunks.length).toBe(1);
    expect(Math.abs(held.ours.plain.headAt! - held.real.plain.headAt!)).toBeLessThan(60);
    // Streams (nginx's gzip output is a few more pieces than events; ours is not compressed).
    expect(held.real.accel.chunks.length).toBeGreaterThanOrEqual(6);
    expect(held.ours.accel.chunks.length).toBe(6);
    expect(held.real.noGzip.chunks.length).toBe(6);
    expect(held.ours.noGzip.chunks.length).toBe(6);
  });
});

describe('fidelity: HAProxy 2.6 against the haproxy preset', { retry: 2 }, () => {
  const real = (tunnelMs?: number) => () =>
    startHaproxy({
      upstreamPort: up.port,
      timeoutMs: TIMEOUT,
      ...(tunnelMs === undefined ? {} : { tunnelMs }),
    });
  const ours =
    (knobs: Partial<HopKnobs> = {}) =>
    () =>
      createProxy({ target: up.url, preset: 'haproxy', knobs: { idleMs: TIMEOUT, ...knobs } });

  it('no headers within timeout server: 504 before headers', async () => {
    const r = await both(real(), ours(), (url) => rawRequest(`${url}/hang`));
    expect(r.real.status).toBe(504);
    expectSameCut(r.real, r.ours);
    expect(r.ours.body).toBe(r.real.body);
  });

  it('headers then silence: head corked ~200 ms, FIN at the timeout', async () => {
    const r = await both(real(), ours(), (url) => rawRequest(`${url}/silent`));
    expect(r.real.end).toBe('fin');
    expectSameCut(r.real, r.ours);
    expect(r.real.headAt!).toBeGreaterThan(150);
    expect(Math.abs(r.ours.headAt! - r.real.headAt!)).toBeLessThan(50);
  });

  it('a busy stream arrives in corked batches, never more than ~200 ms late', async () => {
    const r = await both(real(), ours(), (url) => rawRequest(`${url}/sse?every=70&count=8`));
    for (const side of [r.real, r.ours]) {
      expect(side.end).toBe('complete');
      expect(side.body.match(/data:/g)!.length).toBe(8);
      // Batches: several events per read (HTTP chunks of one read share their arrival time).
      const reads = new Set(side.chunks.map((c) => Math.round(c.at / 10)));
      expect(reads.size).toBeLessThan(8);
      // The n-th event was sent at ~70n ms; it arrives at most one cork (200 ms) later.
      let seen = 0;
      for (const c of side.chunks) {
        seen += c.text.match(/data:/g)!.length;
        expect(c.at - 70 * seen).toBeLessThan(260);
      }
    }
  });

  it('WebSocket: client/server timeouts are its idle clock; timeout tunnel replaces them', async () => {
    const busy = await both(real(), ours(), (url) => wsOutcome(url, 100, 1200));
    expect(busy.real.closedAt).toBeNull();
    expect(busy.ours.closedAt).toBeNull();
    const silent = await both(real(), ours(), (url) => wsOutcome(url, 0, 1200));
    expect(Math.abs(silent.ours.closedAt! - silent.real.closedAt!)).toBeLessThanOrEqual(50);
    const tunnel = await both(real(1000), ours({ websocketIdleMs: 1000 }), (url) =>
      wsOutcome(url, 0, 1600),
    );
    expect(tunnel.real.closedAt!).toBeGreaterThan(900);
    expect(Math.abs(tunnel.ours.closedAt! - tunnel.real.closedAt!)).toBeLessThanOrEqual(100);
  });

  it('unreachable upstream: 503 after 3 retries a second apart', async () => {
    const port = await freePort();
    const r = await both(
      () => startHaproxy({ upstreamPort: port, timeoutMs: TIMEOUT }),
      () => createProxy({ target: `http://127.0.0.1:${port}`, preset: 'haproxy' }),
      (url) => rawRequest(`${url}/x`),
    );
    expect(r.real.status).toBe(503);
    expectSameCut(r.real, r.ours);
  });
});
