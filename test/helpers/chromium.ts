import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium, installed by `.ci/run`; tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium in a fresh profile; `close()` also removes the profile. */
export interface TestChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Debian's Chromium headless in a new profile. The flags keep it off the network
 * this machine does not have (background networking, component updates, sync, QUIC), which
 * otherwise fill the log with refused connections at every start.
 */
export async function launchChromium(
  options: {
    /**
     * Keep Chromium's back/forward cache on (playwright turns it off by default), so that
     * going back restores the page (`pageshow` with `persisted`) instead of reloading it.
     */
    backForwardCache?: boolean;
  } = {},
): Promise<TestChromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is not installed: run .ci/run, or apt-get install -y chromium`);
  }
  const profileDir = await mkdtemp(join(tmpdir(), 'outlast-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    ...(options.backForwardCache === true
      ? { ignoreDefaultArgs: ['--disable-back-forward-cache'] }
      : {}),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}

/** The client's browser bundle, built as `npm run build:browser` builds it. */
export async function buildBrowserBundle(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: ['src/client/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    external: ['node:*'],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

/** A page server for browser tests: serves the bundle and a blank page. */
export interface PageServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * Starts a page server on loopback, port 0: `/outlast-client.js` is `bundle`, `route` may
 * answer any other request (returns `true` when it did), everything else is a blank page.
 */
export async function startPageServer(
  bundle: string,
  route: (path: string, req: IncomingMessage, res: ServerResponse) => boolean = () => false,
): Promise<PageServer> {
  const page = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.url === '/outlast-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (!route(path, req, res)) {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
    }
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(page.address() as AddressInfo).port}`,
    close: async () => {
      page.closeAllConnections();
      await new Promise((r) => page.close(r));
    },
  };
}
