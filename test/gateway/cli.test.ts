import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCommand } from '../../src/cli/gateway.js';
import { readSse, sseRoute, startTestUpstream, type TestUpstream, userEvents } from './helpers.js';

let up: TestUpstream;
beforeAll(async () => {
  up = await startTestUpstream({
    '/sse': sseRoute(3, 10),
    '/ocr': (_q, res) => res.end('{"ok":1}'),
  });
});
afterAll(async () => {
  await up.close();
});

function start(argv: string[]) {
  const stdout = new PassThrough();
  const abort = new AbortController();
  let out = '';
  stdout.on('data', (c: Buffer) => {
    out += c;
  });
  const code = gatewayCommand.run({
    argv,
    stdout,
    stderr: new PassThrough(),
    signal: abort.signal,
  });
  return { code, abort, output: () => out };
}

describe('outlast gateway', () => {
  it('listens on loopback, prints its address, serves routes, closes on the signal', async () => {
    const cli = start(['--upstream', up.url, '--route', 'POST /ocr=job', '--heartbeat', '50ms']);
    let url: string | undefined;
    for (let i = 0; i < 200 && url === undefined; i++) {
      url = /outlast gateway listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.output())?.[1];
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(url).toBeDefined();
    expect(cli.output()).toContain('route POST /ocr = job');
    const r = await readSse(`${url}/sse`);
    expect(r.headers.get('outlast-heartbeat')).toBe('50');
    expect(userEvents(r)).toHaveLength(3);
    const job = await fetch(`${url}/ocr`, { method: 'POST' });
    expect(job.status).toBe(202);
    await job.body?.cancel();
    cli.abort.abort();
    expect(await cli.code).toBe(0);
    expect(cli.output()).toContain('outlast gateway closed');
    await expect(fetch(`${url}/sse`)).rejects.toThrow();
  });

  it('refuses a missing upstream, a bad route, a non-http upstream and a non-Redis store', async () => {
    await expect(start([]).code).rejects.toThrow(/--upstream URL is required/);
    await expect(start(['--upstream', up.url, '--route', 'POST /ocr=later']).code).rejects.toThrow(
      /stream\|job\|pass/,
    );
    await expect(start(['--upstream', 'ftp://x']).code).rejects.toThrow(/http: or https:/);
    await expect(start(['--upstream', up.url, '--store', 'mysql://x']).code).rejects.toThrow(
      /redis:\/\//,
    );
  });
});
