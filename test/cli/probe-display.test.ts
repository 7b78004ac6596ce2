import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { useProbePath } from '../helpers/probe-path.js';
import { cliEntry, repoRoot, shellQuote } from './helpers.js';

/*
 * The probe's live display in a real terminal: tmux (a terminal emulator with a screen we can
 * read back) at 80 columns by 24 rows. While it runs, one block, no line wider than the
 * terminal (capture-pane -J joins wrapped lines, so a wrapped line shows as longer than 80);
 * when it ends, no stale block left anywhere in the scrollback, only the report.
 */

const exec = promisify(execFile);
const socket = `outlast-test-${randomBytes(4).toString('hex')}`;
const tmux = (...args: string[]) =>
  exec('tmux', ['-L', socket, '-f', '/dev/null', ...args], { cwd: repoRoot }).catch((error) => {
    if ((error as { code?: string }).code === 'ENOENT') {
      throw new Error('tmux is not installed: apt-get install tmux');
    }
    throw error;
  });

// Service Connect's clocks at 0.01: a 150 ms total clock, so cuts (long "known" lines) come in.
const path = useProbePath('cloudflare,aws-alb,aws-service-connect', 0.01);
afterAll(async () => {
  await tmux('kill-server').catch(() => {});
});

const screen = async (session: string, history: boolean): Promise<string[]> =>
  (await tmux('capture-pane', '-p', '-J', '-t', session, ...(history ? ['-S', '-'] : []))).stdout
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''));

/** Runs the probe in a new 80x24 pane; narrows it to `narrowTo` columns once the block shows. */
async function probeInTmux(session: string, narrowTo: number | null) {
  const command = [
    process.execPath,
    '--import',
    'tsx',
    cliEntry,
    'probe',
    `${path.proxy.url}/outlast-probe`,
    '--max-wait',
    '3s',
  ]
    .map(shellQuote)
    .join(' ');
  // A clear of the whole screen scrolls it into the history by default (scroll-on-clear):
  // the block starts at the top of a fresh pane, so that would look like a stale block.
  await tmux(
    'start-server',
    ';',
    'set-option',
    '-g',
    'scroll-on-clear',
    'off',
    ';',
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '80',
    '-y',
    '24',
    `${command}; echo "exit=$?"; sleep 60`,
  );
  const during: string[][] = [];
  let last: string[] = [];
  let width = 80;
  const t0 = performance.now();
  while (performance.now() - t0 < 40_000) {
    last = await screen(session, false);
    if (last.some((l) => l.startsWith('exit='))) break;
    if (last.some((l) => l.startsWith('probing:'))) {
      during.push(last);
      if (narrowTo !== null && width !== narrowTo && during.length === 2) {
        await tmux('resize-window', '-t', session, '-x', String(narrowTo));
        width = narrowTo;
      }
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { during, last, all: await screen(session, true) };
}

describe('outlast probe on an 80-column terminal', () => {
  it('redraws one block that fits, and leaves only the report', { timeout: 60_000 }, async () => {
    const { during, last, all } = await probeInTmux('wide', null);
    expect(last.find((l) => l.startsWith('exit='))).toBe('exit=0');
    // The block was seen live, with findings, and always fit.
    expect(during.length).toBeGreaterThan(3);
    expect(during.some((s) => s.some((l) => l.startsWith('  known: ')))).toBe(true);
    for (const s of during) {
      expect(s.filter((l) => l.startsWith('probing:'))).toHaveLength(1);
      for (const line of s) expect(line.length, line).toBeLessThanOrEqual(80);
    }
    // Afterwards: the report, and no trace of the block anywhere in the scrollback.
    expect(all.some((l) => l.startsWith('outlast probe http://'))).toBe(true);
    expect(all.filter((l) => /^probing:|^ {2}running \(|^ {2}known: /.test(l))).toEqual([]);
  });

  it('narrowed to 60 columns mid-probe: the block follows, nothing stale is left', {
    timeout: 60_000,
  }, async () => {
    const { during, last, all } = await probeInTmux('narrow', 60);
    expect(last.find((l) => l.startsWith('exit='))).toBe('exit=0');
    const after = during.slice(4);
    expect(after.length).toBeGreaterThan(0);
    for (const s of after) {
      expect(s.filter((l) => l.startsWith('probing:'))).toHaveLength(1);
      for (const line of s) expect(line.length, line).toBeLessThanOrEqual(60);
    }
    // tmux's own reflow of the narrowed pane may move rows into its history, so the screen,
    // not the scrollback, is what is checked here: the report, and no block left on it.
    expect(all.some((l) => l.startsWith('outlast probe http://'))).toBe(true);
    expect(last.filter((l) => /^probing:|^ {2}running \(|^ {2}known: /.test(l))).toEqual([]);
  });
});
