import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy } from '../../src/proxy/index.js';
import { rawRequest } from '../helpers/proxy-client.js';
import { startUpstream, type Upstream } from '../helpers/proxy-upstream.js';
import { wsOutcome } from '../helpers/proxy-ws.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});

describe('chains', { retry: 2 }, () => {
  it('one real listener per hop, in series, client side first', async () => {
    const p = await createProxy({
      target: up.url,
      preset: 'cloudflare,aws-alb,aws-service-connect',
      timeScale: 0.01,
    });
    try {
      expect(p.hops.map((h) => h.name)).toEqual(['cloudflare', 'aws-alb', 'aws-service-connect']);
      const ports = new Set(p.hops.map((h) => h.port));
      expect(ports.size).toBe(3);
      expect(p.url).toBe(p.hops[0]!.url);
      expect(p.hops[0]!.target.href).toBe(`${p.hops[1]!.url}/`);
      expect(p.hops[2]!.target.href).toBe(`${up.url}/`);
      const r = await rawRequest(`${p.url}/headers`);
      const seen = JSON.parse(r.body) as Record<string, string>;
      // One x-forwarded-for entry per hop; every hop's request fingerprint.
      expect(seen['x-forwarded-for']).toBe('127.0.0.1, 127.0.0.1, 127.0.0.1');
      expect(seen['cf-ray']).toBeDefined();
      expect(seen['x-amzn-trace-id']).toBeDefined();
      expect(seen['x-envoy-expected-rq-timeout-ms']).toBe('150');
      // Response fingerprints of the hops the response crosses (the outermost wins `server`).
      expect(r.headers.server).toBe('cloudflare');
      expect(r.headers['x-envoy-upstream-service-time']).toBeDefined();
    } finally {
      await p.close();
    }
  });

  it('the Service Connect incident through the whole chain: the innermost total clock kills SSE, WebSockets live', async () => {
    const p = await createProxy({
      target: up.url,
      preset: 'cloudflare,aws-alb,aws-service-connect',
      timeScale: 0.01,
    });
    try {
      const sse = await rawRequest(`${p.url}/sse?every=10&count=0`);
      expect(sse.end).toBe('fin');
      expect(sse.endAt).toBeGreaterThan(140);
      expect(sse.endAt).toBeLessThan(260);
      expect(p.hops[2]!.stats.cuts.total).toBe(1);
      expect(p.hops[0]!.stats.cuts.total).toBe(0);
      // A job answering after 45 s (450 ms): Service Connect's 504 reaches the client.
      const job = await rawRequest(`${p.url}/late?ms=450`);
      expect(job.status).toBe(504);
      expect(job.endAt).toBeLessThan(300);
      const ws = await wsOutcome(p.url, 10, 500);
      expect(ws.closedAt).toBeNull();
      expect(ws.messages).toBeGreaterThan(10);
    } finally {
      await p.close();
    }
  });

  it("each hop's clocks apply to its own connections", async () => {
    // Idle 60 s (600 ms) in front, total 15 s (150 ms) behind: the inner one fires first.
    const p = await createProxy({ target: up.url, preset: 'aws-alb,envoy', timeScale: 0.01 });
    try {
      const silent = await rawRequest(`${p.url}/silent`);
      expect(silent.endAt).toBeLessThan(300);
      expect(p.hops[1]!.stats.cuts.total).toBe(1);
      expect(p.hops[0]!.stats.cuts.idle).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('hops can be given one by one with their own knobs', async () => {
    const p = await createProxy({
      target: up.url,
      hops: [{ preset: 'nginx', knobs: { idleMs: 150 } }, 'aws-alb', { knobs: { latencyMs: 5 } }],
    });
    try {
      expect(p.hops.map((h) => h.name)).toEqual(['nginx', 'aws-alb', 'custom']);
      expect(p.hops[0]!.knobs.idleMs).toBe(150);
      const r = await rawRequest(`${p.url}/silent`);
      expect(r.endAt).toBeLessThan(400);
    } finally {
      await p.close();
    }
  });
});

describe('time scale', { retry: 2 }, () => {
  it('shrinks every duration of every hop, and can change at runtime', async () => {
    const p = await createProxy({ target: up.url, preset: 'envoy,aws-alb', timeScale: 0.02 });
    try {
      const a = await rawRequest(`${p.url}/sse?every=10&count=0`);
      expect(a.endAt).toBeGreaterThan(280);
      expect(a.endAt).toBeLessThan(450);
      p.timeScale = 0.01;
      const b = await rawRequest(`${p.url}/sse?every=10&count=0`);
      expect(b.endAt).toBeGreaterThan(140);
      expect(b.endAt).toBeLessThan(260);
      expect(() => {
        p.timeScale = -1;
      }).toThrow(/timeScale/);
    } finally {
      await p.close();
    }
  });

  it('scales latency too, not bandwidth', async () => {
    const p = await createProxy({
      target: up.url,
      knobs: { latencyMs: 10_000 },
      timeScale: 0.02,
    });
    try {
      const r = await rawRequest(`${p.url}/bytes?n=3`);
      expect(r.headAt).toBeGreaterThan(190);
      expect(r.headAt).toBeLessThan(400);
    } finally {
      await p.close();
    }
  });
});
