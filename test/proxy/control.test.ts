import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosProxy, createProxy, type HopInfo } from '../../src/proxy/index.js';
import { rawRequest } from '../helpers/proxy-client.js';
import { startUpstream, type Upstream } from '../helpers/proxy-upstream.js';

let up: Upstream;
let p: ChaosProxy;
let control: string;
beforeAll(async () => {
  up = await startUpstream();
  p = await createProxy({ target: up.url, preset: 'cloudflare,aws-alb', control: true });
  control = p.controlUrl!;
});
afterAll(async () => {
  await p.close();
  await up.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${control}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('control API', () => {
  it('GET / lists the hops with knobs and counters', async () => {
    const { status, json } = await call('GET', '/');
    expect(status).toBe(200);
    expect(json.timeScale).toBe(1);
    expect(json.url).toBe(p.url);
    const hops = json.hops as HopInfo[];
    expect(hops.map((h) => h.name)).toEqual(['cloudflare', 'aws-alb']);
    expect(hops[0]!.knobs.idleMs).toBe(100_000);
    expect(hops[0]!.stats.requests).toBe(0);
    expect(control).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('PUT /hops/:hop changes knobs at runtime (by index or name)', async () => {
    const { status, json } = await call('PUT', '/hops/aws-alb', { idleMs: 150 });
    expect(status).toBe(200);
    expect((json.knobs as { idleMs: number }).idleMs).toBe(150);
    const r = await rawRequest(`${p.url}/silent`);
    expect(r.end).toBe('fin');
    expect(r.endAt).toBeLessThan(400);
    const info = await call('GET', '/hops/1');
    expect((info.json.stats as { cuts: { idle: number } }).cuts.idle).toBe(1);
    const reset = await call('POST', '/hops/1/reset');
    expect((reset.json.knobs as { idleMs: number }).idleMs).toBe(60_000);
  });

  it('PUT /hops changes every hop; PUT /time-scale the scale', async () => {
    await call('PUT', '/hops', { latencyMs: 50 });
    expect(p.hops.every((h) => h.knobs.latencyMs === 50)).toBe(true);
    const r = await rawRequest(`${p.url}/bytes?n=1`);
    expect(r.headAt).toBeGreaterThan(95);
    await call('PUT', '/hops', { latencyMs: 0 });
    const ts = await call('PUT', '/time-scale', { timeScale: 0.5 });
    expect(ts.json.timeScale).toBe(0.5);
    expect(p.timeScale).toBe(0.5);
    await call('PUT', '/time-scale', { timeScale: 1 });
  });

  it('answers errors as JSON with a code', async () => {
    const badKnob = await call('PUT', '/hops/0', { idleMs: 'soon' });
    expect(badKnob.status).toBe(400);
    expect((badKnob.json.error as { code: string }).code).toBe('invalid-option');
    const unknownKnob = await call('PUT', '/hops/0', { nope: 1 });
    expect((unknownKnob.json.error as { code: string }).code).toBe('unknown-knob');
    const unknownHop = await call('GET', '/hops/9');
    expect(unknownHop.status).toBe(404);
    expect((unknownHop.json.error as { code: string }).code).toBe('unknown-hop');
    const notJson = await fetch(`${control}/hops/0`, { method: 'PUT', body: '{' });
    expect(notJson.status).toBe(400);
    const badScale = await call('PUT', '/time-scale', { timeScale: 0 });
    expect(badScale.status).toBe(400);
    expect((await call('GET', '/nope')).status).toBe(404);
    expect(((await call('GET', '/presets')).json as unknown as unknown[]).length).toBeGreaterThan(
      13,
    );
  });
});
