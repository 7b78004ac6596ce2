import { readFileSync } from 'node:fs';
import { type CliCommand, UsageError } from './command.js';
import { commands } from './commands.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(pkg.version);
}

function help(list: CliCommand[]): string {
  const width = Math.max(8, ...list.map((c) => c.name.length));
  const lines = list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'outlast: long-running HTTP work that reaches its user, whatever sits in the network path',
    '',
    'Usage: outlast <command> [options]',
    '       outlast <command> --help',
    '',
    'Commands:',
    ...(lines.length > 0 ? lines : ['  (none yet)']),
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -v, --version  print the version',
    '',
  ].join('\n');
}

/** Runs the CLI with `argv` (without `node` and the script path); resolves to the exit code. */
export async function main(
  argv: string[],
  io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    stdout.write(help(commands));
    return 0;
  }
  if (first === '-v' || first === '--version') {
    stdout.write(`${version()}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === first);
  if (command === undefined) {
    stderr.write(
      `outlast: unknown command "${first}". Run \`npx outlast --help\` for the list. [invalid-option]\n`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    stdout.write(command.usage);
    return 0;
  }
  const controller = new AbortController();
  // The signal's reason names the signal, so a command can exit 128 + its number.
  const onInt = () => controller.abort('SIGINT');
  const onTerm = () => controller.abort('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    return await command.run({ argv: rest, stdout, stderr, signal: controller.signal });
  } catch (error) {
    if (error instanceof UsageError) {
      stderr.write(`outlast ${command.name}: ${error.message} [${error.code}]\n\n${command.usage}`);
      return 2;
    }
    const code = (error as { code?: unknown }).code;
    stderr.write(
      `outlast ${command.name}: ${(error as Error).message}${typeof code === 'string' ? ` [${code}]` : ''}\n`,
    );
    return 1;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
