import { describe, expect, it } from 'vitest';
import { describeLateness, measureLateness } from '../../src/cli/demo-story.js';
import { cli } from './helpers.js';

/*
 * The demo narrates what happened on the path it ran, not a script: its header names the path,
 * it never suggests the path just run, it claims lessons only when there were cuts, every
 * production figure is the scaled one (the heartbeat included), and it says when progress
 * reached the user late. Fast time scale (0.05: the 45 s job in 2.25 s).
 */

const SCALE = 0.05;

/** Every "A (B in production)" pair: B is A at the time scale (within rounding). */
function checkScaled(out: string): void {
  const unit = (n: string, u: string): number =>
    Number(n) * (u === 'ms' ? 1 : u === 's' ? 1000 : 60_000);
  const pairs = [...out.matchAll(/([\d.]+) (ms|s|min) \(([\d.]+) (ms|s|min) in production\)/g)];
  expect(pairs.length).toBeGreaterThan(5);
  for (const [text, a, ua, b, ub] of pairs) {
    const here = unit(a!, ua!);
    const prod = unit(b!, ub!);
    // Both are rounded for display ("1.1 min"): 6 % covers one decimal of a minute.
    expect(Math.abs(prod * SCALE - here), text).toBeLessThanOrEqual(Math.max(1, here * 0.06));
  }
}

async function demo(path: string): Promise<string> {
  const { code, out, err } = await cli([
    'demo',
    '--path',
    path,
    '--time-scale',
    String(SCALE),
    '--max-wait',
    '1m',
  ]);
  expect(code, out + err).toBe(0);
  expect(out).toContain('done: 9 of 9 pages, result received, 0 lost, 0 duplicated');
  checkScaled(out);
  // The probe's heartbeat is at most the server's 15 s default, in production terms.
  const hb = /advice: \S+ heartbeat every [\d.]+ m?s \(([\d.]+) (ms|s) in production\)/.exec(out);
  expect(hb, out).not.toBeNull();
  expect(Number(hb![1]) * (hb![2] === 's' ? 1000 : 1)).toBeLessThanOrEqual(15_000);
  // Never suggests the path it just ran.
  const tryLine = out.split('\n').find((l) => l.includes('Try another path'))!;
  expect(tryLine).toContain('npx outlast demo --path ');
  const m = /--path (\S+) \(or (.*)\)$/.exec(tryLine);
  expect(m, tryLine).not.toBeNull();
  expect([m![1], ...m![2]!.split(', ')]).not.toContain(path);
  expect(out).toMatch(/progress: /);
  return out;
}

describe('outlast demo tells what happened', () => {
  it('the Service Connect incident: its header, the cuts it learned from', {
    timeout: 60_000,
  }, async () => {
    const out = await demo('cloudflare,aws-alb,aws-service-connect');
    expect(out.split('\n')[0]).toBe(
      'outlast demo: the Service Connect incident, replayed on this machine',
    );
    expect(out).toMatch(/LOST after/);
    expect(out).toMatch(/found its way from [1-9]\d* cuts? \(\d+ lessons?\)/);
    expect(out.split('\n').find((l) => l.includes('Try another path'))).not.toContain(
      'cloudflare,aws-alb,aws-service-connect',
    );
  });

  it('corporate-av: names the path, and says the plain client saw nothing until the end', {
    timeout: 60_000,
  }, async () => {
    const out = await demo('corporate-av');
    expect(out.split('\n')[0]).toBe(
      'outlast demo: a long job through corporate-av, simulated on this machine',
    );
    expect(out).not.toContain('Service Connect incident');
    expect(out).toMatch(/it got the result after .*, but late: the user saw nothing until the end/);
    expect(out).not.toMatch(/this path did not cut it/);
  });

  it('cloudflare: no cuts, so no lesson claimed', { timeout: 60_000 }, async () => {
    const out = await demo('cloudflare');
    expect(out).toContain('a long job through cloudflare');
    expect(out).toContain('nothing cut the client, so it had nothing to learn');
    expect(out).not.toContain('found its way');
    expect(out).not.toContain('saw nothing until the end');
  });
});

describe('progress lateness', () => {
  const t = (ms: number) => `${ms} ms`;
  it('on time, late, and nothing until the end', () => {
    const published = [100, 200, 300, 400];
    const onTime = measureLateness(published, [102, 201, 305, 401]);
    expect(onTime).toMatchObject({ pages: 4, worstMs: 5, worstPage: 3, nothingUntilEnd: false });
    expect(describeLateness(onTime, 100, t)).toBe(
      'every page arrived on time (worst 5 ms after it was ready)',
    );
    const late = measureLateness(published, [150, 350, 351, 402]);
    expect(describeLateness(late, 100, t)).toBe(
      'pages arrived late: page 2 150 ms after it was ready (median 50 ms)',
    );
    const held = measureLateness(published, [401, 401, 402, 402]);
    expect(held?.nothingUntilEnd).toBe(true);
    expect(describeLateness(held, 100, t)).toBe(
      'the user saw nothing until the end: every page arrived only once the last was ready, page 1 301 ms late',
    );
    expect(describeLateness(measureLateness(published, []), 100, t)).toBe(
      'no progress event arrived',
    );
  });
});
