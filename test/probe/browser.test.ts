import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../../src/probe/index.js';
import { renderHtmlReport } from '../../src/probe/report/html.js';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { type ChaosProxy, createProxy } from '../../src/proxy/index.js';
import { launchChromium, type TestChromium } from '../helpers/chromium.js';

/*
 * The probe's pictures in real Chromium (Debian's, never a downloaded build): the browser page
 * of the probe server runs the probe through a simulated Cloudflare -> ALB -> Service Connect
 * path and draws its timeline; the HTML report of the CLI renders offline. Screenshots are
 * kept in reports/ for a look.
 */

const SCALE = 0.05;
let probe: RunningProbeServer;
let proxy: ChaosProxy;
let context: BrowserContext;
let browser: TestChromium | undefined;
const shots = join(process.cwd(), 'reports');

beforeAll(async () => {
  probe = await startProbeServer({ maxRequestsPerMinute: 100_000 });
  proxy = await createProxy({
    target: probe.url.replace(/\/outlast-probe$/, ''),
    preset: 'cloudflare,aws-alb,aws-service-connect',
    timeScale: SCALE,
  });
  browser = await launchChromium();
  context = browser.context;
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await probe?.close();
});

describe('probe pictures in Chromium', () => {
  it('the browser page runs the probe through the path and draws the timeline', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.goto(`${proxy.url}/outlast-probe/ui?maxWait=4000&autorun=1`);
    await page.waitForSelector('body[data-state="done"]', { timeout: 30_000 });
    const report = (await page.evaluate('window.probeReport')) as {
      limits: Record<string, number | null>;
      experiments: Array<{ name: string; outcome: string }>;
    };
    // Service Connect's 15 s at 0.05: 750 ms, seen from the browser too; ALB's 60 s: 3 s.
    expect(Math.abs((report.limits['SSE total'] ?? 0) - 750)).toBeLessThanOrEqual(150);
    expect(Math.abs((report.limits['WebSocket idle'] ?? 0) - 3000)).toBeLessThanOrEqual(300);
    expect(report.limits['WebSocket total']).toBeNull();
    const rows = await page.locator('#chart svg text').allTextContents();
    expect(rows).toContain('sse-total');
    expect(await page.locator('#chart svg path').count()).toBeGreaterThan(2);
    await page.screenshot({ path: join(shots, 'probe-browser-page.png'), fullPage: true });
    await page.close();
  });

  it('the HTML report renders offline with the timeline, the culprit and the fixes', {
    timeout: 60_000,
    retry: 1,
  }, async () => {
    const report = await runProbe(`${proxy.url}/outlast-probe`, { maxWaitMs: 4000 });
    const dir = await mkdtemp(join(tmpdir(), 'outlast-report-'));
    const file = join(dir, 'report.html');
    const html = renderHtmlReport([report]);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    await writeFile(file, html);
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.goto(`file://${file}`);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    expect(await page.locator('.culprit').textContent()).toContain('Envoy');
    expect(await page.locator('svg').first().locator('text').allTextContents()).toContain(
      'first-byte',
    );
    expect(await page.locator('pre').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('per_request_timeout_seconds')]),
    );
    await page.screenshot({ path: join(shots, 'probe-html-report.png'), fullPage: false });
    await page.close();
    await rm(dir, { recursive: true, force: true });
  });
});
