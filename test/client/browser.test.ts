import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import type { TestServer } from '../helpers/server.js';
import { proxyFor, sleep, startTestServer } from './helpers.js';

/*
 * The browser bundle in real Chromium (Debian's, never a downloaded build): a page on one
 * origin starts a job on the outlast server through a simulated ECS Service Connect path
 * (cloudflare -> ALB -> Service Connect, time-scaled: SSE dies at 300 ms) and must get every
 * progress event once, in order, and the result.
 */

const STEPS = 40;
/** Requests per same-origin SSE path of the page server. */
const hits = new Map<string, number>();
/** When each request of a same-origin SSE path came, ms (Date.now). */
const hitTimes = new Map<string, number[]>();
const LONG = 'a'.repeat(40);

/**
 * Same-origin SSE endpoints of the page server (the page reads them by relative URL):
 * `/sse/bom`: a U+FEFF at the start of a chunk in mid-stream, long enough for the browser's
 * native decoder; `/sse/refuse-first/*`: a 503 first (a long backoff follows), then
 * one event; `/sse/ticks/*`: an endless stream that resumes after Last-Event-ID.
 */
function sameOrigin(
  path: string,
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
): void {
  const n = (hits.get(path) ?? 0) + 1;
  hits.set(path, n);
  hitTimes.set(path, [...(hitTimes.get(path) ?? []), Date.now()]);
  if (path.startsWith('/sse/ticks/')) {
    // An endless resumable stream: event N every 100 ms, from after Last-Event-ID.
    let i = Number(req.headers['last-event-id'] ?? 0);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    const timer = setInterval(() => {
      i++;
      res.write(`id: ${i}\ndata: ${i}\n\n`);
    }, 100);
    res.on('close', () => clearInterval(timer));
  } else if (path === '/sse/bom') {
    // Each piece in its own chunk: a decoder that strips a BOM at the start of what it decodes
    // (TextDecoder without ignoreBOM) would turn the second into a data line.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`retry: 60000\n\ndata: 1${LONG}\n\n`);
    setTimeout(() => res.write(`\uFEFFdata: 2${LONG}\n\n`), 100);
    setTimeout(() => res.end(`data: 3${LONG}\n\n`), 200);
  } else if (path.startsWith('/sse/refuse-first/') && n === 1) {
    res.writeHead(503).end();
  } else {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('retry: 60000\n\ndata: back\n\n');
  }
}
let dir: string;
let bundle: string;
let server: TestServer;
let page: Server;
let pageOrigin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outlast-browser-'));
  const out = join(dir, 'outlast-client.js');
  // The same options as `npm run build:browser`.
  await build({
    entryPoints: ['src/client/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    external: ['node:*'],
    outfile: out,
    logLevel: 'silent',
  });
  bundle = await readFile(out, 'utf8');
  server = await startTestServer({
    heartbeatMs: 60,
    cors: { origin: '*' },
    jobs: {
      ocr: async (ctx: { input: { pages: number }; progress(d: unknown): Promise<void> }) => {
        for (let i = 0; i < ctx.input.pages; i++) {
          await ctx.progress({ page: i });
          await sleep(30);
        }
        return { pages: ctx.input.pages, text: 'done' };
      },
    },
  });
  page = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.url === '/outlast-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (path.startsWith('/sse/')) {
      sameOrigin(path, req, res);
    } else
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await server?.close();
  page?.closeAllConnections();
  await new Promise((r) => page?.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('browser bundle', () => {
  it('has no static Node built-in import', () => {
    expect(bundle).not.toMatch(/from\s*"node:|require\("node:/);
    console.log(`browser bundle: ${(bundle.length / 1024).toFixed(1)} KiB minified`);
  });

  it('completes a job in Chromium through a simulated Service Connect path', async () => {
    const proxy = await proxyFor(server, {
      preset: 'cloudflare,aws-alb,aws-service-connect',
      timeScale: 0.02,
    });
    try {
      const outcome = await runJobInChromium(`${proxy.base}/jobs/ocr`);
      expect(outcome.pages).toEqual(Array.from({ length: STEPS }, (_, i) => i));
      expect(outcome.result).toEqual({ pages: STEPS, text: 'done' });
      // The 300 ms total clock cut SSE at least twice before the client rotated under it.
      expect(outcome.rules).toContain('total-clock');
      expect(outcome.stored).toEqual([`outlast:path:${new URL(proxy.url).origin}`]);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('moves to the browser WebSocket behind a proxy that holds SSE (corporate-av)', async () => {
    const proxy = await proxyFor(server, { preset: 'corporate-av' });
    try {
      const outcome = await runJobInChromium(`${proxy.base}/jobs/ocr`);
      expect(outcome.pages).toEqual(Array.from({ length: STEPS }, (_, i) => i));
      expect(outcome.rules).toEqual(['buffering']);
      expect([...new Set(outcome.transports)]).toEqual(['ws']);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

/**
 * One Chromium with one tab on `path` of the page server for a describe block; `inPage` runs
 * `body` (the text of an async function body, `connect` in scope) in it.
 */
function chromiumTab(path: string, options: Parameters<typeof launchChromium>[0] = {}) {
  const t = {
    browser: null as Awaited<ReturnType<typeof launchChromium>> | null,
    tab: null as unknown as import('playwright-core').Page,
    inPage: (body: string) =>
      t.tab.evaluate(`(async () => {
        const { connect } = await import('/outlast-client.js');
        ${body}
      })()`),
  };
  beforeAll(async () => {
    t.browser = await launchChromium(options);
    t.tab = await t.browser.context.newPage();
    await t.tab.goto(`${pageOrigin}${path}`);
  }, 30_000);
  afterAll(async () => {
    await t.browser?.close();
  });
  return t;
}

describe('browser bundle at the page edges', () => {
  const page = chromiumTab('/app/index.html');
  const inPage = page.inPage;

  it('reads a relative URL against the page, as fetch and EventSource do', async () => {
    const got = (await inPage(`
      const conn = connect('../sse/relative', { protocol: 'sse' });
      const first = await conn[Symbol.asyncIterator]().next();
      conn.close();
      return { url: conn.url, data: first.value.data };
    `)) as { url: string; data: string };
    expect(got).toEqual({ url: `${pageOrigin}/sse/relative`, data: 'back' });
  });

  it('keeps a BOM in mid-stream: "\\uFEFFdata:2" is an unknown field, as on Node', async () => {
    const got = (await inPage(`
      const conn = connect('/sse/bom', { protocol: 'sse' });
      const data = [];
      conn.on('event', (e) => data.push(e.data));
      await new Promise((r) => setTimeout(r, 800));
      conn.close();
      return data;
    `)) as string[];
    expect(got).toEqual([`1${LONG}`, `3${LONG}`]);
  });

  // A 503 first, then a backoff of ~20 s: only the page event can bring the reconnect soon.
  const waiting = (path: string) => `
    const conn = connect('${path}', {
      protocol: 'sse', initialDelayMs: 20000, maxDelayMs: 20000, random: () => 0.99,
    });
    await new Promise((resolve) => conn.on('reconnecting', resolve));`;

  it('reconnects at once on the real online event (context.setOffline)', async () => {
    await inPage(`${waiting('/sse/refuse-first/online')}
      window.__conn = conn;`);
    await page.browser!.context.setOffline(true);
    await sleep(100);
    const started = Date.now();
    let onlineAt = 0;
    const [got] = await Promise.all([
      inPage(`
        const it = window.__conn[Symbol.asyncIterator]();
        const online = new Promise((r) => window.addEventListener('online', () => r(true), { once: true }));
        const first = await it.next();
        window.__conn.close();
        return { data: first.value.data, online: await online };
      `),
      sleep(100).then(async () => {
        onlineAt = Date.now();
        await page.browser!.context.setOffline(false);
      }),
    ]);
    expect(got).toEqual({ data: 'back', online: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(hits.get('/sse/refuse-first/online')).toBe(2);
    // The backoff was 20 s: the reconnect followed the event.
    const at = hitTimes.get('/sse/refuse-first/online')!;
    console.log(`chromium: reconnect ${at[1]! - onlineAt} ms after online`);
    expect(at[1]! - onlineAt).toBeLessThan(2_000);
  }, 30_000);

  it('reconnects at once when the tab becomes visible again', async () => {
    const started = Date.now();
    // Headless Chromium never hides a tab: the page's visibilityState is set, the event real.
    const got = (await inPage(`${waiting('/sse/refuse-first/visible')}
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
      const shownAt = Date.now();
      document.dispatchEvent(new Event('visibilitychange'));
      const first = await conn[Symbol.asyncIterator]().next();
      conn.close();
      return { data: first.value.data, shownAt };
    `)) as { data: string; shownAt: number };
    expect(got.data).toBe('back');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(hits.get('/sse/refuse-first/visible')).toBe(2);
    const at = hitTimes.get('/sse/refuse-first/visible')!;
    console.log(`chromium: reconnect ${at[1]! - got.shownAt} ms after visibilitychange`);
    expect(at[1]! - got.shownAt).toBeLessThan(2_000);
  }, 30_000);

  it('an abort the client did not ask for (window.stop()) is a loss: it reconnects and resumes', async () => {
    const got = (await inPage(`
      const conn = connect('/sse/ticks/stop', { protocol: 'sse', initialDelayMs: 20, maxDelayMs: 200 });
      const ticks = [], cuts = [];
      conn.on('cut', (c) => cuts.push(c.cause));
      for await (const e of conn) {
        ticks.push(Number(e.data));
        if (ticks.length === 3) window.stop();
        if (ticks.length === 8) break;
      }
      return { ticks, cuts };
    `)) as { ticks: number[]; cuts: string[] };
    // Every id once, in order, across the cut: the reconnect resumed after Last-Event-ID.
    expect(got.ticks).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(got.cuts[0]).toMatch(/^(mid-stream-eof|network-error)$/);
    expect(got.cuts.at(-1)).toBe('client-abort');
    expect(hits.get('/sse/ticks/stop')).toBe(2);
  }, 30_000);
});

describe('browser bundle across the back/forward cache', () => {
  const page = chromiumTab('/app/bf.html', { backForwardCache: true });
  const inPage = page.inPage;

  /** Leaves the page and comes back to it from the back/forward cache. */
  const awayAndBack = async (awayMs: number) => {
    await page.tab.goto(`${pageOrigin}/app/elsewhere.html`);
    await sleep(awayMs);
    const back = Date.now();
    await page.tab.goBack({ waitUntil: 'commit' });
    return back;
  };

  it('pageshow from the cache runs a reconnect waiting on its backoff at once', async () => {
    // Only `window` is watched: the restore's visibilitychange cannot be what woke it.
    await inPage(`
      window.__shows = [];
      addEventListener('pageshow', (e) => window.__shows.push(e.persisted));
      const conn = connect('/sse/refuse-first/pageshow', {
        protocol: 'sse', initialDelayMs: 20000, maxDelayMs: 20000, random: () => 0.99,
        lifecycle: { window, document: null },
      });
      window.__conn = conn;
      await new Promise((resolve) => conn.on('reconnecting', resolve));
    `);
    const back = await awayAndBack(300);
    const got = await inPage(`
      const first = await window.__conn[Symbol.asyncIterator]().next();
      window.__conn.close();
      return { data: first.value.data, shows: window.__shows };
    `);
    // The same page object came back (persisted), not a reload.
    expect(got).toEqual({ data: 'back', shows: [true] });
    const at = hitTimes.get('/sse/refuse-first/pageshow')!;
    expect(at).toHaveLength(2);
    console.log(`chromium: reconnect ${at[1]! - back} ms after going back (backoff 20 s)`);
    expect(at[1]! - back).toBeLessThan(2_000);
  }, 30_000);

  it('a healthy connection comes back from the cache as it was: no reconnect, nothing lost', async () => {
    await inPage(`
      window.__ticks = [];
      window.__cuts = [];
      const conn = connect('/sse/ticks/bfcache', { protocol: 'sse' });
      window.__live = conn;
      conn.on('event', (e) => window.__ticks.push(Number(e.data)));
      conn.on('cut', (c) => window.__cuts.push(c.cause));
      while (window.__ticks.length < 2) await new Promise((r) => setTimeout(r, 20));
    `);
    await awayAndBack(500);
    const got = (await inPage(`
      const seen = window.__ticks.length;
      while (window.__ticks.length < seen + 3) await new Promise((r) => setTimeout(r, 20));
      const cuts = [...window.__cuts];
      window.__live.close();
      return { ticks: window.__ticks, cuts };
    `)) as { ticks: number[]; cuts: string[] };
    expect(got.cuts).toEqual([]);
    expect(got.ticks).toEqual(Array.from({ length: got.ticks.length }, (_, i) => i + 1));
    expect(hits.get('/sse/ticks/bfcache')).toBe(1);
  }, 30_000);
});

interface Outcome {
  pages: number[];
  result: unknown;
  causes: string[];
  rules: string[];
  transports: string[];
  stored: string[];
}

/** Starts the `ocr` job from a page in a fresh Chromium profile and collects what it saw. */
async function runJobInChromium(url: string): Promise<Outcome> {
  const browser = await launchChromium();
  try {
    const tab = await browser.context.newPage();
    await tab.goto(`${pageOrigin}/`);
    // A string, not a function: vitest would rewrite `import()` inside a function body.
    const outcome = (await tab.evaluate(`(async () => {
      const { connect } = await import('/outlast-client.js');
      const conn = connect(${JSON.stringify(url)}, {
        body: { pages: ${STEPS} },
        initialDelayMs: 20,
        maxDelayMs: 200,
        healthyAfterMs: 300,
      });
      const causes = [], rules = [], transports = [], pages = [];
      conn.on('cut', (c) => causes.push(c.cause));
      conn.on('learn', (l) => rules.push(l.rule));
      conn.on('open', (o) => transports.push(o.transport));
      for await (const e of conn) pages.push(JSON.parse(e.data).page);
      return {
        pages,
        result: await conn.result,
        causes,
        rules,
        transports,
        stored: Object.keys(localStorage).filter((k) => k.startsWith('outlast:path:')),
      };
    })()`)) as Outcome;
    console.log(
      `chromium: ${outcome.pages.length} events, cuts ${JSON.stringify(outcome.causes)}, learned ${JSON.stringify(outcome.rules)}, transports ${JSON.stringify([...new Set(outcome.transports)])}`,
    );
    return outcome;
  } finally {
    await browser.close();
  }
}
