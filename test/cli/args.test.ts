import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArgs } from '../../src/cli/args.js';
import { UsageError } from '../../src/cli/command.js';
import { isOutlastError } from '../../src/errors.js';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { cli } from './helpers.js';

/*
 * Every command reads its arguments through one reader: an unknown flag is unknown wherever it
 * stands, a boolean flag takes only a boolean, and every error carries its code.
 */

describe('readArgs', () => {
  const spec = { values: ['max-wait'], booleans: ['json'], positionals: true };
  const all = (argv: string[]) => [...readArgs(argv, spec)];

  it('reads values, booleans, --no- and positionals', () => {
    expect(all(['u', '--max-wait', '5s', '--json', '--max-wait=1s', '--no-json'])).toEqual([
      { name: null, value: 'u', on: true },
      { name: 'max-wait', value: '5s', on: true },
      { name: 'json', value: 'true', on: true },
      { name: 'max-wait', value: '1s', on: true },
      { name: 'json', value: 'false', on: false },
    ]);
    expect(all(['--json=false', '--json=YES']).map((a) => a.on)).toEqual([false, true]);
  });

  it('an unknown flag is unknown, first, middle or last', () => {
    for (const argv of [['--bogus'], ['--bogus', 'x'], ['u', '--bogus'], ['--bogus=1']]) {
      expect(() => all(argv)).toThrow(new UsageError('unknown option --bogus'));
    }
    expect(() => all(['-x'])).toThrow('unknown option -x');
  });

  it('a missing value says so, also when the next word is a flag', () => {
    expect(() => all(['--max-wait'])).toThrow('--max-wait needs a value');
    expect(() => all(['--max-wait', '--json'])).toThrow(
      '--max-wait needs a value (found the option --json instead)',
    );
  });

  it('a boolean flag refuses a value that is not a boolean, with its code', () => {
    try {
      all(['--json=banana']);
      expect.unreachable();
    } catch (error) {
      expect(isOutlastError(error, 'invalid-option')).toBe(true);
      expect((error as Error).message).toContain('--json="banana" is not a boolean');
    }
    expect(() => all(['--no-json=1'])).toThrow('--no-json takes no value');
  });

  it('positionals are refused where none are expected', () => {
    expect(() => [...readArgs(['x'], { values: [] })]).toThrow('unexpected argument "x"');
  });
});

describe('every command, one behaviour', () => {
  it('an unknown flag given last: unknown option, exit 2, with its code and the usage', async () => {
    for (const argv of [
      ['probe', 'http://127.0.0.1:9', '--bogus'],
      ['proxy', '--target', 'http://127.0.0.1:9', '--bogus'],
      ['probe-server', '--bogus'],
      ['config', '--for', 'nginx', '--bogus'],
      ['demo', '--bogus'],
      ['gateway', '--upstream', 'http://127.0.0.1:9', '--bogus'],
    ]) {
      const { code, err } = await cli(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toContain('unknown option --bogus [invalid-option]');
      expect(err).toContain(`Usage: outlast ${argv[0]}`);
    }
  });

  it('an unknown command: exit 2, with its code', async () => {
    const { code, err } = await cli(['probes']);
    expect(code).toBe(2);
    expect(err).toContain('unknown command "probes"');
    expect(err).toContain('[invalid-option]');
  });

  it('boolean flags reject =banana, in probe and proxy alike', async () => {
    const probe = await cli(['probe', 'http://127.0.0.1:9', '--json=banana']);
    expect(probe.code).toBe(1);
    expect(probe.err).toContain('--json="banana" is not a boolean');
    expect(probe.err).toContain('[invalid-option]');
    const proxy = await cli(['proxy', '--target', 'http://127.0.0.1:9', '--list-presets=banana']);
    expect(proxy.code).toBe(1);
    expect(proxy.err).toContain('[invalid-option]');
  });

  it('demo rejects a value proxy rejects, the same way: invalid-option, exit 1', async () => {
    const demo = await cli(['demo', '--time-scale', 'fast']);
    const proxy = await cli(['proxy', '--target', 'http://127.0.0.1:9', '--time-scale', 'fast']);
    for (const r of [demo, proxy]) {
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/--time-scale "fast" must be a number .*\[invalid-option\]/);
    }
    expect((await cli(['demo', '--time-scale', '0'])).err).toContain('[invalid-option]');
    expect((await cli(['demo', '--max-wait', 'soon'])).err).toContain('[invalid-option]');
  });
});

describe('outlast config validates the combination', () => {
  it('a heartbeat above half the idle timeout is refused, saying what to change', async () => {
    const long = await cli(['config', '--for', 'nginx', '--heartbeat', '10m']);
    expect(long.code).toBe(1);
    expect(long.out).toBe('');
    expect(long.err).toContain(
      'a heartbeat every 10m does not keep an idle timeout of 5m open: the heartbeat must be at most half the idle timeout; raise --idle to 20m or more, or lower --heartbeat to 2.5m or less',
    );
    expect(long.err).toContain('[invalid-option]');
    const short = await cli(['config', '--for', 'haproxy', '--idle', '10s', '--heartbeat', '30s']);
    expect(short.code).toBe(1);
    expect(short.err).toContain('raise --idle to 1m or more, or lower --heartbeat to 5s or less');
  });

  it('every comment it writes is true: the idle timeout is above the heartbeat it names', async () => {
    for (const target of ['nginx', 'haproxy', 'alb-terraform']) {
      for (const [idle, hb] of [
        ['10s', '5s'],
        ['5m', '15s'],
        ['1m', '2.5s'],
      ] as const) {
        const { code, out } = await cli([
          'config',
          '--for',
          target,
          '--idle',
          idle,
          '--heartbeat',
          hb,
        ]);
        expect(code).toBe(0);
        const m = /(\d+)s?;?\s+# .*above the ([\d.]+)s heartbeat/.exec(out);
        expect(m, out).not.toBeNull();
        expect(Number(m![1])).toBeGreaterThanOrEqual(2 * Number(m![2]));
        expect(Number(m![2])).toBe(Number.parseFloat(hb));
      }
    }
  });
});

describe('outlast probe: what it checks before probing', () => {
  let server: RunningProbeServer;
  let dir: string;
  beforeAll(async () => {
    server = await startProbeServer();
    dir = await mkdtemp(join(tmpdir(), 'outlast-args-'));
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('--html into a missing directory fails at once, before any probing', async () => {
    const t0 = performance.now();
    const { code, err, out } = await cli([
      'probe',
      server.url,
      '--max-wait',
      '20s',
      '--html',
      '/nonexistent/dir/r.html',
    ]);
    expect(code).toBe(1);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(err).toContain(
      '--html /nonexistent/dir/r.html: the directory /nonexistent/dir does not exist',
    );
    expect(err).toContain('[invalid-option]');
    expect(out).not.toContain('probing');
    const isDir = await cli(['probe', server.url, '--html', dir]);
    expect(isDir.err).toContain('is a directory');
  });

  it('--html into a directory that exists is written', async () => {
    const file = join(dir, 'r.html');
    const { code } = await cli(['probe', server.url, '--max-wait', '300ms', '--html', file]);
    expect(code).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('<svg');
  });

  it('a port fetch refuses ("bad port") is explained', async () => {
    const { code, err } = await cli(['probe', 'http://127.0.0.1:1', '--max-wait', '1s']);
    expect(code).toBe(1);
    expect(err).toContain(
      'cannot reach http://127.0.0.1:1: port 1 is one of the ports fetch refuses',
    );
    expect(err).toContain('run the probe server on another port');
    expect(err).toContain('[probe-unreachable]');
  });
});
