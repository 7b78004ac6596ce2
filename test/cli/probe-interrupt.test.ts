import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useProbePath } from '../helpers/probe-path.js';
import { cliEntry, repoRoot } from './helpers.js';

/*
 * Ctrl-C or SIGTERM during a probe: the report says it was interrupted, how long it ran and
 * the limits found so far (never "not reached up to max-wait"), and the exit code is
 * 128 + the signal's number. The path: Service Connect's 15 s total clock at time scale 0.05
 * (750 ms), so a limit is found long before the 30 s max-wait.
 */

const path = useProbePath('aws-service-connect', 0.05);

/** Runs `outlast probe` from source, sends `signal` once `ready` matches its output. */
function interrupt(args: string[], signal: NodeJS.Signals, ready: RegExp) {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, 'probe', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let sentAt = 0;
  const check = (): void => {
    if (sentAt === 0 && ready.test(out + err)) {
      sentAt = performance.now();
      child.kill(signal);
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    out += d;
    check();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d;
    check();
  });
  return new Promise<{ code: number | null; out: string; err: string; exitMs: number }>(
    (resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err, exitMs: performance.now() - sentAt });
      });
    },
  );
}

describe('outlast probe, interrupted', () => {
  it('SIGINT: exit 130, "interrupted": true in --json, elapsed, the limits found so far', {
    timeout: 60_000,
  }, async () => {
    const r = await interrupt(
      [`${path.proxy.url}/outlast-probe`, '--json', '--max-wait', '30s'],
      'SIGINT',
      // The non-TTY progress line of the total clock's cut (on stderr with --json).
      /sse-total/,
    );
    expect(r.code, r.err).toBe(130);
    expect(r.exitMs).toBeLessThan(10_000);
    const report = JSON.parse(r.out);
    expect(report.interrupted).toBe(true);
    expect(report.durationMs).toBeGreaterThan(600);
    expect(report.durationMs).toBeLessThan(25_000);
    expect(report.maxWaitMs).toBe(report.durationMs);
    expect(report.limits.sse.totalMs).toBeGreaterThan(650);
    expect(report.limits.sse.totalMs).toBeLessThan(1000);
    expect(report.notes[0]).toMatch(
      /^interrupted after [\d.]+ m?s: these are the limits found so far/,
    );
    expect(JSON.stringify(report.notes)).not.toContain('30 s');
  });

  it('SIGTERM: exit 143, the text report says INTERRUPTED, not "not reached up to 30 s"', {
    timeout: 60_000,
  }, async () => {
    const r = await interrupt(
      [`${path.proxy.url}/outlast-probe`, '--max-wait', '30s'],
      'SIGTERM',
      /sse-total/,
    );
    expect(r.code, r.err).toBe(143);
    expect(r.out).toMatch(/INTERRUPTED after [\d.]+ m?s; the limits found so far/);
    expect(r.out).toMatch(/SSE total\s+(7\d\d ms|[89]\d\d ms)/);
    expect(r.out).not.toContain('not reached up to 30 s');
  });
});
