import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy, getPreset, presetNames, presets } from '../../src/proxy/index.js';
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

const required = [
  'cloudflare',
  'aws-alb',
  'aws-service-connect',
  'envoy',
  'nginx',
  'nginx-gzip',
  'haproxy',
  'heroku',
  'gcp-lb',
  'cloud-run',
  'api-gateway',
  'cloudfront',
  'azure-front-door',
  'corporate-av',
];

describe('the presets table', () => {
  it('has every preset the issue names, each with a source', () => {
    for (const name of required) expect(presetNames).toContain(name);
    for (const p of presets) {
      expect(p.source).toMatch(/intermediaries\.md/);
      expect(p.summary.length).toBeGreaterThan(10);
    }
  });

  it('carries the facts-table numbers', () => {
    expect(getPreset('cloudflare').knobs).toMatchObject({ idleMs: 100_000, timeoutStatus: 524 });
    expect(getPreset('aws-alb').knobs).toMatchObject({ idleMs: 60_000, timeoutStatus: 504 });
    expect(getPreset('aws-service-connect').knobs).toMatchObject({
      totalMs: 15_000,
      idleMs: 300_000,
      websocketTotalMs: null,
    });
    expect(getPreset('heroku').knobs).toMatchObject({ firstByteMs: 30_000, idleMs: 55_000 });
    expect(getPreset('gcp-lb').knobs).toMatchObject({ totalMs: 30_000 });
    expect(getPreset('api-gateway').knobs).toMatchObject({ totalMs: 29_000, holdWhole: true });
    expect(getPreset('cloud-run').knobs).toMatchObject({ totalMs: 300_000 });
  });

  it('an unknown preset names the valid ones', () => {
    expect(() => getPreset('cloudflair')).toThrow(/valid presets: cloudflare, aws-alb/);
  });
});

describe('presets at time scale 0.01 (a 15 s clock fires at 150 ms)', { retry: 2 }, () => {
  it('aws-service-connect reproduces the Service Connect incident: SSE dies at 15 s despite heartbeats, WebSocket survives', async () => {
    const p = await createProxy({ target: up.url, preset: 'aws-service-connect', timeScale: 0.01 });
    try {
      const sse = await rawRequest(`${p.url}/sse?every=10&count=0`);
      expect(sse.status).toBe(200);
      expect(sse.end).toBe('fin');
      expect(sse.endAt).toBeGreaterThan(140);
      expect(sse.endAt).toBeLessThan(250);
      expect(sse.chunks.length).toBeGreaterThan(5);
      const ws = await wsOutcome(p.url, 10, 600);
      expect(ws.status).toBe(101);
      expect(ws.closedAt).toBeNull();
      const slow = await rawRequest(`${p.url}/late?ms=400`);
      expect(slow.status).toBe(504);
      expect(slow.body).toBe('upstream request timeout');
      expect(slow.headers.server).toBe('envoy');
    } finally {
      await p.close();
    }
  });

  it.each([
    // name, path, expected status, end, earliest, latest (ms)
    ['cloudflare', '/hang', 524, 'complete', 950, 1300],
    ['aws-alb', '/hang', 504, 'complete', 570, 800],
    ['aws-alb', '/silent', 200, 'fin', 570, 800],
    ['envoy', '/sse?every=10&count=0', 200, 'fin', 140, 300],
    ['nginx', '/silent', 200, 'fin', 570, 800],
    ['haproxy', '/hang', 504, 'complete', 470, 700],
    ['heroku', '/hang', 503, 'complete', 280, 450],
    ['gcp-lb', '/sse?every=10&count=0', 200, 'fin', 280, 450],
    ['api-gateway', '/hang', 504, 'complete', 280, 450],
    ['cloudfront', '/silent', 200, 'fin', 280, 450],
    ['azure-front-door', '/hang', 504, 'complete', 280, 450],
  ] as const)('%s on %s: %d, %s', async (name, path, status, end, min, max) => {
    const p = await createProxy({ target: up.url, preset: name, timeScale: 0.01 });
    try {
      const r = await rawRequest(`${p.url}${path}`);
      expect(r.status).toBe(status);
      expect(r.end).toBe(end);
      expect(r.endAt).toBeGreaterThan(min);
      expect(r.endAt).toBeLessThan(max);
    } finally {
      await p.close();
    }
  });

  it('aws-nlb drops an idle connection silently', async () => {
    const p = await createProxy({ target: up.url, preset: 'aws-nlb', timeScale: 0.001 });
    try {
      const r = await rawRequest(`${p.url}/sse?every=500&count=2`, { timeoutMs: 1200 });
      expect(r.status).toBe(200);
      expect(r.chunks.length).toBe(0);
      expect(r.end).toBe('timeout');
      expect(p.hops[0]!.stats.cuts.idle).toBe(1);
    } finally {
      await p.close();
    }
  });

  it('cloud-run cuts at 300 s (3 s scaled) whatever the traffic', async () => {
    const p = await createProxy({ target: up.url, preset: 'cloud-run', timeScale: 0.001 });
    try {
      const r = await rawRequest(`${p.url}/sse?every=20&count=0`);
      expect(r.end).toBe('fin');
      expect(r.endAt).toBeGreaterThan(280);
      expect(r.endAt).toBeLessThan(450);
    } finally {
      await p.close();
    }
  });

  it.each(['nginx-gzip', 'corporate-av', 'api-gateway', 'azure-front-door'])(
    '%s holds a stream until its end',
    async (name) => {
      const p = await createProxy({ target: up.url, preset: name, timeScale: 0.01 });
      try {
        const r = await rawRequest(`${p.url}/sse?every=20&count=6`, {
          headers: { 'accept-encoding': 'gzip' },
        });
        expect(r.status).toBe(200);
        expect(r.chunks.length).toBe(1);
        expect(r.chunks[0]!.at).toBeGreaterThan(100);
      } finally {
        await p.close();
      }
    },
  );

  it('nginx-gzip streams when the response says X-Accel-Buffering: no', async () => {
    const p = await createProxy({ target: up.url, preset: 'nginx-gzip', timeScale: 0.01 });
    try {
      const r = await rawRequest(`${p.url}/sse?every=20&count=6&accel=no`, {
        headers: { 'accept-encoding': 'gzip' },
      });
      expect(r.chunks.length).toBe(6);
      expect(r.headers['x-accel-buffering']).toBeUndefined();
    } finally {
      await p.close();
    }
  });

  it('api-gateway refuses WebSockets; gcp-lb applies its total clock to them', async () => {
    const api = await createProxy({ target: up.url, preset: 'api-gateway', timeScale: 0.01 });
    const gcp = await createProxy({ target: up.url, preset: 'gcp-lb', timeScale: 0.01 });
    try {
      expect((await wsOutcome(api.url, 10, 300)).status).toBe(403);
      const ws = await wsOutcome(gcp.url, 10, 800);
      expect(ws.closedAt).toBeGreaterThan(280);
      expect(ws.closedAt).toBeLessThan(500);
    } finally {
      await api.close();
      await gcp.close();
    }
  });

  it('fingerprints show in the headers both ways', async () => {
    const expectations: Array<[string, (seen: Record<string, string>) => void]> = [
      ['cloudflare', (s) => expect(s['cf-connecting-ip']).toBe('127.0.0.1')],
      ['aws-alb', (s) => expect(s['x-amzn-trace-id']).toMatch(/^Root=1-/)],
      ['heroku', (s) => expect(s['x-request-start']).toMatch(/^\d+$/)],
      ['gcp-lb', (s) => expect(s['x-cloud-trace-context']).toMatch(/\/1;o=1$/)],
      ['cloudfront', (s) => expect(s['x-amz-cf-id']).toBeDefined()],
      ['azure-front-door', (s) => expect(s['x-azure-fdid']).toBeDefined()],
    ];
    for (const [name, check] of expectations) {
      const p = await createProxy({ target: up.url, preset: name });
      try {
        const r = await rawRequest(`${p.url}/headers`);
        check(JSON.parse(r.body) as Record<string, string>);
      } finally {
        await p.close();
      }
    }
    const heroku = await createProxy({ target: up.url, preset: 'heroku' });
    try {
      expect((await rawRequest(`${heroku.url}/bytes?n=1`)).headers.via).toBe('1.1 vegur');
    } finally {
      await heroku.close();
    }
  });
});
