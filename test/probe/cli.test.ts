import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { cli } from './helpers.js';

let open: RunningProbeServer;
let guarded: RunningProbeServer;

beforeAll(async () => {
  open = await startProbeServer();
  guarded = await startProbeServer({ token: 's3cret' });
});
afterAll(async () => {
  await open.close();
  await guarded.close();
});

describe('outlast probe: bad input', () => {
  it('an unreachable URL: a clear error and a non-zero exit', async () => {
    const { code, err } = await cli([
      'probe',
      'http://127.0.0.1:9/outlast-probe',
      '--max-wait',
      '1s',
    ]);
    expect(code).toBe(1);
    expect(err).toContain('cannot reach http://127.0.0.1:9/outlast-probe');
    expect(err).toContain('[probe-unreachable]');
  });

  it('a URL that is not a probe server: says so and how to run one', async () => {
    const { code, err } = await cli([
      'probe',
      `${open.url.replace('/outlast-probe', '')}/elsewhere`,
      '--max-wait',
      '1s',
    ]);
    expect(code).toBe(1);
    expect(err).toContain('is not an outlast probe server');
    expect(err).toContain('outlast probe-server');
  });

  it('a wrong token: 401, said plainly', async () => {
    const { code, err } = await cli(['probe', guarded.url, '--token', 'nope', '--max-wait', '1s']);
    expect(code).toBe(1);
    expect(err).toContain('401 Unauthorized');
    expect(err).toContain('refused the token');
  });

  it('usage errors: no URL, unknown transport, bad duration', async () => {
    expect((await cli(['probe'])).code).toBe(2);
    expect((await cli(['probe', open.url, '--transports', 'carrier-pigeon'])).err).toContain(
      'is not a transport',
    );
    expect((await cli(['probe', open.url, '--max-wait', 'soon'])).err).toContain('250ms, 15s, 5m');
  });
});

describe('outlast probe on a direct path', () => {
  it('a right token, plain lines, the HTML report written, nothing cut up to max-wait', {
    timeout: 30_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outlast-cli-'));
    const file = join(dir, 'r.html');
    const { code, out } = await cli([
      'probe',
      `${guarded.url}?token=s3cret`,
      '--max-wait',
      '1s',
      '--html',
      file,
    ]);
    expect(code).toBe(0);
    expect(out).toContain('SSE total           not reached up to 1 s');
    expect(out).toContain(`HTML report: ${file}`);
    const html = await readFile(file, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('No limit cut a connection up to max-wait.');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('outlast config', () => {
  it('prints the snippet alone, with the durations asked for', async () => {
    const nginx = await cli(['config', '--for', 'nginx', '--idle', '10m']);
    expect(nginx.code).toBe(0);
    expect(nginx.out).toContain('proxy_read_timeout 600s;');
    expect(nginx.out).toContain('proxy_buffering off;');
    const sc = await cli([
      'config',
      '--for',
      'service-connect',
      '--max-stream',
      '1h',
      '--idle',
      '5m',
    ]);
    expect(sc.out).toContain('per_request_timeout_seconds = 3600');
    expect(sc.out).toContain('idle_timeout_seconds        = 300');
    expect((await cli(['config', '--for', 'alb-terraform', '--idle', '2h'])).out).toContain(
      'idle_timeout = 4000',
    );
    expect((await cli(['config', '--for', 'node'])).out).toContain('keepAliveTimeout');
    expect((await cli(['config', '--for', 'uvicorn'])).out).toContain('--timeout-keep-alive');
    expect((await cli(['config', '--for', 'haproxy'])).out).toContain('timeout tunnel');
    expect((await cli(['config', '--for', 'cloudflare'])).out).toContain('524');
    const bad = await cli(['config', '--for', 'iis']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(
      'use one of: nginx, haproxy, alb-terraform, service-connect, cloudflare, node, uvicorn',
    );
  });
});
