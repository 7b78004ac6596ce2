import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot, run } from '../cli/helpers.js';

/*
 * The README's curl sequence runs as pasted (against the example server, on a free port, with
 * the 45 s job and the 12 s rotation scaled down): the POST sets JOB from the 202, the stream
 * ends at rotation with `event: outlast.rotate` and curl exits 0, the job record answers.
 */

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGTERM');
  child = undefined;
});

function readmeBlock(marker: string): string {
  const md = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const blocks = [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => b.includes(marker));
  if (block === undefined) throw new Error(`no sh block with ${marker} in README.md`);
  return block;
}

function startExample(env: Record<string, string>): Promise<string> {
  child = spawn(process.execPath, ['--import', 'tsx', 'examples/ocr-node.ts'], {
    cwd: repoRoot,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 20_000);
    child!.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on http:\/\/(\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child!.once('exit', (code) => reject(new Error(`example exited with ${code}: ${out}`)));
  });
}

describe('README: the curl sequence', () => {
  it('runs as pasted: JOB set from the 202, JSON sent, rotation ends the stream cleanly', {
    timeout: 40_000,
  }, async () => {
    const block = readmeBlock('JOB=$(curl');
    expect(block).toContain("-H 'content-type: application/json'");
    const host = await startExample({ OCR_DURATION_MS: '2700', MAX_STREAM_MS: '900' });
    const script = `set -e\n${block.replaceAll('localhost:3000', host)}\nprintf "\\nJOB=%s\\n" "$JOB"\n`;
    const { code, out, err } = await run('bash', ['-c', script], { timeoutMs: 20_000 });
    expect(code, err).toBe(0);
    const job = /^JOB=(\S+)$/m.exec(out)?.[1];
    expect(job).toMatch(/^[\w-]{16,}$/);
    // The stream: progress, then rotation, and curl ended without an error.
    expect(out).toMatch(/event: progress\ndata: \{"page":1,/);
    expect(out).toContain('event: outlast.rotate\ndata: {"reconnectMs":0}');
    // The job record, with the input the POST sent as JSON.
    expect(out).toContain(`"id":"${job}"`);
    // Carrying on from the last id, as the README says, reaches the result.
    const lastId = [...out.matchAll(/^id: (\S+)$/gm)].at(-1)?.[1];
    expect(lastId).toBeDefined();
    let rest = '';
    for (let i = 0; i < 20 && !rest.includes('outlast.result'); i++) {
      const last = [...rest.matchAll(/^id: (\S+)$/gm)].at(-1)?.[1] ?? lastId!;
      const next = await run(
        'curl',
        [
          '-sN',
          `http://${host}/outlast/jobs/${job}/events?lastEventId=${encodeURIComponent(last)}`,
        ],
        { timeoutMs: 10_000 },
      );
      expect(next.code).toBe(0);
      rest += next.out;
    }
    expect(rest).toContain('event: outlast.result');
    expect(rest).toContain('"document":"scan.pdf"');
  });
});
