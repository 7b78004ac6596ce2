import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

/*
 * Starting the runtimes npm installed (devDependencies bun, deno, miniflare's workerd) on
 * bundled entries: shared by the runtime suites and bench:runtimes.
 */

export type RuntimeName = 'bun' | 'deno';

const ROOT = resolve(import.meta.dirname, '../..');

/** Where npm put each runtime's binary (devDependencies `bun` and `deno`). */
export function runtimeBinary(name: RuntimeName | 'workerd'): string {
  const path = join(ROOT, 'node_modules', '.bin', name);
  if (!existsSync(path)) {
    throw new Error(
      `${name} is not installed: it is a devDependency (npm package "${name === 'workerd' ? 'miniflare' : name}"); run \`npm ci\``,
    );
  }
  return path;
}

/**
 * Bundles `entry` (a path under the repository) into one ES module file `{dir}/{name}.mjs`;
 * returns its path. `node:` imports stay imports (only Node's branch of an entry uses them).
 */
export async function bundle(
  entry: string,
  dir: string,
  platform: 'neutral' | 'browser' = 'neutral',
  name = 'entry',
): Promise<string> {
  const outfile = join(dir, `${name}.mjs`);
  await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    format: 'esm',
    platform,
    target: 'es2022',
    outfile,
    external: ['node:*'],
    logLevel: 'silent',
  });
  return outfile;
}

/** Spawns `command` and resolves with the port it prints as `PORT n`. */
export function spawnWithPort(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} printed no port within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /PORT (\d+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(match[1]), output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before printing its port:\n${output}`));
    });
  });
}

/** Arguments that run a bundled module file on each runtime with no network but loopback. */
export function runtimeCommand(name: RuntimeName, file: string): [string, string[]] {
  if (name === 'bun') return [runtimeBinary('bun'), ['run', file]];
  return [
    runtimeBinary('deno'),
    ['run', '--no-prompt', '--allow-net=127.0.0.1', '--no-config', '--no-lock', file],
  ];
}
