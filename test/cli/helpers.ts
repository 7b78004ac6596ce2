import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export { cli } from '../probe/helpers.js';

/** The CLI from source (`node --import tsx ENTRY command ...`): no build needed. */
export const cliEntry = fileURLToPath(new URL('../helpers/proxy-cli-entry.ts', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Quotes one argument for `sh -c`. */
export function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Runs a command to its end; resolves with its exit code and output. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${command} ${args.join(' ')} took over ${options.timeoutMs} ms:\n${out}\n${err}`,
        ),
      );
    }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}
