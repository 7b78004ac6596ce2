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
    if (req.url === '/outlast-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
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
