import { EventSource } from 'eventsource';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connect } from '../../src/client/index.js';
import { parseRunEventId } from '../../src/gateway/index.js';
import { type ChaosProxy, createProxy } from '../../src/proxy/index.js';
import { buildBrowserBundle, launchChromium } from '../helpers/chromium.js';
import { until } from '../helpers/server.js';
import { type FastApiApp, startFastApi } from './fastapi.js';
import {
  expectIdle,
  readSse,
  startTestGateway,
  startTestUpstream,
  type TestGateway,
  type TestUpstream,
  userEvents,
} from './helpers.js';

/*
 * The Service Connect incident, replayed with its own FastAPI app 100 times faster than life:
 * Cloudflare (100 s idle) -> ALB (60 s idle) -> Service Connect (15 s per request) -> app.
 * Without the gateway the SSE endpoints die at 15 s (150 ms) and the 45 s POST gets a 504;
 * with the gateway beside the app (a sidecar in the same task, behind Service Connect) they
 * complete, nothing lost, the app unchanged.
 */
const SCALE = 0.01;
const CHAIN = 'cloudflare,aws-alb,aws-service-connect';

let app: FastApiApp;
let gw: TestGateway;
let viaGateway: ChaosProxy;
let direct: ChaosProxy;
let pages: TestUpstream;

beforeAll(async () => {
  app = await startFastApi(SCALE);
  // The browser test's page and the client bundle, from a server of their own that a route
  // of the gateway names (the app itself stays as it is).
  const bundle = await buildBrowserBundle();
  pages = await startTestUpstream({
    '/page/': (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>'),
    '/page/outlast-client.js': (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle),
  });
  gw = await startTestGateway({
    upstream: app.url,
    routes: [{ method: 'GET', path: '/page/*', mode: 'pass', upstream: pages.url }],
    heartbeatMs: 50, // 5 s
    maxStreamMs: 100, // 10 s, well below Service Connect's 15 s
    retryMs: 10,
  });
  viaGateway = await createProxy({ target: gw.url, preset: CHAIN, timeScale: SCALE });
  direct = await createProxy({ target: app.url, preset: CHAIN, timeScale: SCALE });
}, 30_000);
afterAll(async () => {
  await viaGateway?.close();
  await direct?.close();
  await gw?.close();
  await app?.close();
  await pages?.close();
});
afterEach(async () => {
  await expectIdle(gw.gateway);
});

describe('the Service Connect incident, with the incident app', {}, () => {
  it('without the gateway: SSE dies at Service Connect clock, the 45 s POST gets 504', async () => {
    const started = Date.now();
    const sse = await readSse(`${direct.url}/public/test-sse`);
    const took = Date.now() - started;
    expect(userEvents(sse).length).toBeLessThan(30);
    // Cut by Service Connect at its 15 s (150 ms), long before the 30 heartbeats (600 ms).
    expect(took).toBeGreaterThan(120);
    expect(direct.hops[2]!.stats.cuts.total).toBeGreaterThanOrEqual(1);
    const ocr = await fetch(`${direct.url}/ocr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"document":"scan.pdf"}',
    });
    expect(ocr.status).toBe(504);
    await ocr.body?.cancel();
  });

  it('a plain EventSource through the gateway gets all 30 heartbeats of one upstream run', async () => {
    const es = new EventSource(`${viaGateway.url}/public/test-sse`);
    const ids: string[] = [];
    let opens = 0;
    es.onopen = () => opens++;
    es.onmessage = (e) => {
      expect(e.data).toBe('heartbeat');
      ids.push(e.lastEventId);
    };
    let rotations = 0;
    es.addEventListener('outlast.rotate', () => rotations++);
    // The end of the run reaches a plain EventSource as the 204 it gets on reconnecting.
    await until(() => es.readyState === EventSource.CLOSED, 'EventSource stopped by 204', 15_000);
    es.close();
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    expect(new Set(ids.map((id) => parseRunEventId(id)?.runId)).size).toBe(1);
    // 600 ms of stream under a 150 ms clock: it was rotated, and resumed, several times.
    expect(opens).toBeGreaterThanOrEqual(3);
    // The gateway ended the responses before the clock (a loaded machine may still see a
    // cut now and then: the client resumes from it all the same).
    expect(rotations).toBeGreaterThanOrEqual(3);
  });

  it('the outlast client reads the SSE pages variant to the end: every page once, in order', async () => {
    const conn = connect(`${viaGateway.url}/ocr/stream?document=scan.pdf`, {
      WebSocket: null,
      reports: false,
    });
    const pages: number[] = [];
    const upstreamIds: (string | null)[] = [];
    for await (const e of conn) {
      if (e.type !== 'page') continue;
      pages.push((JSON.parse(e.data) as { page: number }).page);
      upstreamIds.push(parseRunEventId(e.id!)?.upstreamId ?? null);
    }
    expect(pages).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(upstreamIds).toEqual(pages.map((p) => `page-${p}`));
  });

  it('the 45 s OCR POST as a job: 202 through the chain, the outlast client gets the answer', async () => {
    const conn = connect(`${viaGateway.url}/ocr`, {
      body: { document: 'scan.pdf' },
      headers: { prefer: 'respond-async' },
      WebSocket: null,
    });
    for await (const _ of conn) {
      // a plain request has no progress events
    }
    const result = (await conn.result) as { status: number; body: string };
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ document: 'scan.pdf', pages: 9 });
  });

  it('its WebSocket passes through the gateway and the chain, as it did without', async () => {
    const ws = new WebSocket(`${viaGateway.url.replace('http', 'ws')}/public/ws/test`);
    const got: string[] = [];
    let closed = false;
    ws.on('message', (m) => got.push(String(m)));
    ws.on('close', () => {
      closed = true;
    });
    await until(() => got.length >= 20, 'WebSocket heartbeats', 5000);
    expect(closed).toBe(false);
    expect(new Set(got)).toEqual(new Set(['heartbeat']));
    expect(gw.gateway.stats().tunnels).toBe(1);
    ws.close();
    await until(() => closed, 'closed');
  });

  it('in Chromium: the outlast client bundle and a native EventSource complete through the chain', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${viaGateway.url}/page/`);
      // A string, not a function: the test runner would rewrite a function's import().
      const got = (await page.evaluate(`(async () => {
        const { connect } = await import(location.origin + '/page/outlast-client.js');
        const conn = connect(location.origin + '/ocr/stream?document=scan.pdf', { reports: false });
        const pageNumbers = [];
        for await (const e of conn) if (e.type === 'page') pageNumbers.push(JSON.parse(e.data).page);
        const heartbeats = await new Promise((resolve) => {
          let n = 0;
          const es = new EventSource('/public/test-sse');
          es.onmessage = () => n++;
          // The end of a run is a 204 on reconnect: EventSource stops (readyState CLOSED).
          es.onerror = () => { if (es.readyState === EventSource.CLOSED) resolve(n); };
          setTimeout(() => resolve(-n), 15000);
        });
        return { pageNumbers, heartbeats };
      })()`)) as { pageNumbers: number[]; heartbeats: number };
      expect(got.pageNumbers).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(got.heartbeats).toBe(30);
    } finally {
      await browser.close();
    }
  }, 40_000);
});
