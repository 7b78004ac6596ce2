import { type ChildProcess, spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { rawRequest } from '../helpers/proxy-client.js';
import { startUpstream, type Upstream } from '../helpers/proxy-upstream.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});

const entry = fileURLToPath(new URL('../helpers/proxy-cli-entry.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

async function runInProcess(argv: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await main(argv, { stdout, stderr });
  return { code, out, err };
}

/** Spawns `outlast proxy ...` from source; resolves once it printed its listening line. */
function spawnProxy(
  args: string[],
): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'proxy', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^outlast proxy listening on (http:\/\/\S+)$/m.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, out: () => out });
      }
    });
    child.once('exit', () => reject(new Error(`exited: ${out}`)));
  });
}

describe('outlast proxy (spawned)', { retry: 2 }, () => {
  it('prints its address, proxies with presets, time scale and knob flags, and exits cleanly on SIGTERM', async () => {
    const { child, url, out } = await spawnProxy([
      '--target',
      up.url,
      '--preset',
      'cloudflare,aws-service-connect',
      '--time-scale',
      '0.01',
      '--add-response-header',
      'x-cli: yes',
    ]);
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(out()).toMatch(/control API on http:\/\/127\.0\.0\.1:\d+/);
      const r = await rawRequest(`${url}/sse?every=10&count=0`);
      expect(r.end).toBe('fin');
      expect(r.endAt).toBeGreaterThan(140);
      expect(r.endAt).toBeLessThan(300);
      expect(r.headers['x-cli']).toBe('yes');
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out()).toContain('outlast proxy closed');
    }
  });

  it('SIGINT closes it too; --listen picks the address', async () => {
    const { child, url } = await spawnProxy([
      '--target',
      up.url,
      '--listen',
      '127.0.0.1:0',
      '--idle',
      '150ms',
      '--control',
      'off',
    ]);
    const r = await rawRequest(`${url}/silent`);
    expect(r.end).toBe('fin');
    expect(r.endAt).toBeLessThan(400);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});

describe('outlast proxy (in process)', () => {
  it('--list-presets prints each preset with parameters and source', async () => {
    const { code, out } = await runInProcess(['proxy', '--list-presets']);
    expect(code).toBe(0);
    expect(out).toContain('aws-service-connect:');
    expect(out).toMatch(/total=15s/);
    expect(out).toMatch(/source: intermediaries\.md row "AWS ECS Service Connect"/);
    expect(out.match(/^\S+: /gm)!.length).toBeGreaterThanOrEqual(14);
  });

  it('an unknown preset lists the valid ones', async () => {
    const { code, err } = await runInProcess([
      'proxy',
      '--target',
      up.url,
      '--preset',
      'cludflare',
    ]);
    expect(code).toBe(1);
    expect(err).toMatch(/unknown preset "cludflare"; valid presets: cloudflare, aws-alb/);
    expect(err).toContain('[unknown-preset]');
  });

  it('a bad duration names the accepted format', async () => {
    const { code, err } = await runInProcess(['proxy', '--target', up.url, '--idle', '15 secs']);
    expect(code).toBe(1);
    expect(err).toMatch(/250ms, 15s, 5m/);
  });

  it('usage errors exit 2', async () => {
    expect((await runInProcess(['proxy'])).code).toBe(2);
    expect((await runInProcess(['proxy', '--target', up.url, '--bogus', '1'])).code).toBe(2);
    expect((await runInProcess(['proxy', '--target', up.url, '--listen', 'nowhere'])).code).toBe(2);
    const help = await runInProcess(['proxy', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--reset-probability');
  });

  it('bad values are rejected before listening', async () => {
    const r = await runInProcess(['proxy', '--target', up.url, '--reset-probability', '2']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/probability/);
    const t = await runInProcess(['proxy', '--target', up.url, '--time-scale', 'fast']);
    expect(t.code).toBe(1);
    const c = await runInProcess(['proxy', '--target', up.url, '--cut', 'slam']);
    expect(c.err).toMatch(/fin, rst/);
  });
});
