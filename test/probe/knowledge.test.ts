import { describe, expect, it } from 'vitest';
import { answerSender, headerCase, identify, parseVia } from '../../src/probe/engine/identify.js';
import { newRecord } from '../../src/probe/engine/record.js';
import { knownProducts } from '../../src/probe/knowledge/index.js';
import { fingerprints } from '../../src/proxy/fingerprints.js';

/** The intermediaries the probe must know (issue list), by id. */
const required = [
  'envoy',
  'istio',
  'traefik',
  'apache',
  'varnish',
  'squid',
  'traffic-server',
  'lighttpd',
  'caddy',
  'iis-arr',
  'f5-bigip',
  'kong',
  'akamai',
  'fastly',
  'cloudfront',
  'azure-app-gateway',
  'azure-front-door',
  'gcp-lb',
  'cloud-run',
  'heroku',
  'fly',
  'vercel',
  'netlify',
  'api-gateway',
  'aws-alb',
  'aws-nlb',
  'cloudflare',
  'nginx',
  'ingress-nginx',
  'haproxy',
];

describe('the knowledge of intermediaries', () => {
  it('covers every product people run, each with sources, clocks and a fix', () => {
    const ids = knownProducts.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of required) expect(ids, id).toContain(id);
    for (const p of knownProducts) {
      expect(p.sources.length, p.id).toBeGreaterThan(0);
      for (const s of p.sources) expect(s, p.id).toMatch(/^(https:\/\/|docs\/)/);
      expect(p.clocks.length, p.id).toBeGreaterThan(0);
      for (const c of p.clocks) {
        expect(c.setting.length, p.id).toBeGreaterThan(3);
        expect(c.limits.length, `${p.id} ${c.setting}`).toBeGreaterThan(0);
        expect(c.where.length, `${p.id} ${c.setting}`).toBeGreaterThan(5);
        expect(c.fix(300_000).length, `${p.id} ${c.setting}`).toBeGreaterThan(3);
        expect(c.granularityMs).toBeGreaterThan(0);
      }
    }
  });

  it("names the sender of every simulator fingerprint's error page, and no other", () => {
    const expected: Record<string, string | null> = {
      cloudflare: 'Cloudflare',
      'aws-alb': 'AWS Application Load Balancer',
      envoy: 'Envoy (AWS ECS Service Connect)',
      nginx: 'nginx',
      haproxy: 'HAProxy',
      heroku: 'Heroku router',
      // Its error page carries nothing the normal responses do not: it names no one.
      'gcp-lb': null,
      'cloud-run': 'Google Cloud Run',
      'api-gateway': 'AWS API Gateway',
      cloudfront: 'Amazon CloudFront',
      'azure-front-door': 'Azure Front Door',
      'corporate-av': null,
      varnish: 'Varnish Cache',
      squid: 'Squid',
      apache: 'Apache httpd (mod_proxy)',
      fastly: 'Fastly',
      akamai: 'Akamai',
      kong: 'Kong Gateway',
      'azure-app-gateway': 'Azure Application Gateway',
      // Its error page is bare text: it names no one.
      fly: null,
      vercel: 'Vercel',
    };
    const ctx = {
      clientAddress: '127.0.0.1',
      startedAt: Date.now(),
      totalMs: 1000,
      id: 'a'.repeat(40),
    };
    for (const [name, fp] of Object.entries(fingerprints)) {
      const page = fp.errorPage(504, ctx);
      const baseline = Object.fromEntries(fp.response(ctx, 5).map(([k, v]) => [k, v]));
      const headers = Object.fromEntries(page.headers.map(([k, v]) => [k.toLowerCase(), v]));
      const sender = answerSender({ status: 504, headers, body: page.body }, baseline);
      expect(sender?.product.name ?? null, name).toBe(expected[name]);
    }
  });

  it('names hops from Via as they name themselves, and counts the ones that do not', () => {
    expect(parseVia('1.1 vm (squid/5.7), 1.1 varnish (Varnish/7.1)').map((e) => e.by)).toEqual([
      'vm',
      'varnish',
    ]);
    const r = newRecord('sse-idle', 'sse', 'x', 0);
    r.status = 200;
    r.responseHeaders = { via: '1.1 corporate-proxy' };
    const found = identify(
      [r],
      [
        ['via', '1.1 corporate-proxy'],
        ['x-forwarded-for', '10.0.0.1, 10.0.0.2'],
      ],
    );
    expect(found.map((f) => f.name)).toEqual([
      'corporate-proxy (named in Via)',
      'An unnamed proxy',
    ]);
  });

  it("reads the header names' case for the hop nearest the server", () => {
    const sent: Array<[string, string]> = [
      ['user-agent', 'node'],
      ['sec-fetch-mode', 'cors'],
    ];
    expect(headerCase(sent)).toBeNull();
    expect(
      headerCase([
        ['User-Agent', 'node'],
        ['Sec-Fetch-Mode', 'cors'],
      ]),
    ).toMatch(/Go proxies/);
    expect(
      headerCase([
        ['User-Agent', 'node'],
        ['sec-fetch-mode', 'cors'],
      ]),
    ).toMatch(/Squid/);
    expect(headerCase(null)).toBeNull();
  });
});
