import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { cli } from './helpers.js';

/*
 * `npm start` is `outlast demo`: the Service Connect incident's story, end to end, in under a minute. The test
 * runs the same command in-process (no build needed) and, when dist/ is built, `npm start`
 * itself.
 */

function checkStory(out: string): void {
  // The path and the job.
  expect(out).toContain('cloudflare -> aws-alb -> aws-service-connect');
  expect(out).toMatch(/job\s+OCR of a 9-page PDF/);
  // A plain SSE client loses the job at the total clock.
  expect(out).toMatch(/LOST after \d+(\.\d+)? s \(\d+(\.\d+)? s in production\)/);
  expect(out).toContain('no result');
  // The probe finds the clock and names it.
  expect(out).toMatch(/SSE total \(busy!\)\s+\d+(\.\d+)? s/);
  expect(out).toMatch(/culprit: sse\.totalMs [^:]+: Envoy \(AWS ECS Service Connect\):/);
  // A clock no hop is known for says so, as the probe's own report does.
  expect(out).not.toMatch(/culprit: .* is unknown/);
  // The outlast client completes the same job with no event lost and says what it chose.
  expect(out).toContain('done: 9 of 9 pages, result received, 0 lost, 0 duplicated');
  expect(out).toMatch(/chose (sse|ws|poll)/);
  expect(out).toMatch(/why: /);
  // The HTML report is written and its path printed.
  expect(out).toMatch(/HTML report .*: \/\S+report\.html/);
}

describe('outlast demo', () => {
  it('tells the Service Connect incident in under a minute', {
    timeout: 90_000,
    retry: 1,
  }, async () => {
    const t0 = performance.now();
    const { code, out } = await cli(['demo']);
    expect(performance.now() - t0).toBeLessThan(60_000);
    expect(code, out).toBe(0);
    checkStory(out);
    const file = /: (\/\S+report\.html)/.exec(out)![1]!;
    const html = await readFile(file, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Envoy');
  });

  it('npm start runs it', { timeout: 120_000 }, async () => {
    expect(pkg.scripts.start).toBe('node bin/outlast.js demo');
    if (!existsSync('dist/cli/main.js')) return;
    const { stdout } = await promisify(execFile)('npm', ['start', '--silent'], {
      timeout: 110_000,
    });
    checkStory(stdout);
  });

  it('replays another path with --path', { timeout: 90_000 }, async () => {
    const { code, out } = await cli(['demo', '--path', 'gcp-lb', '--max-wait', '40s']);
    expect(code, out).toBe(0);
    expect(out).toContain('client -> gcp-lb -> outlast server');
    expect(out).toContain('done: 9 of 9 pages, result received, 0 lost, 0 duplicated');
  });
});
