/** What every subcommand gets: its arguments and where to write. */
export interface CliContext {
  argv: string[];
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM: long-running commands close cleanly when it fires. */
  signal: AbortSignal;
}

/** One `outlast` subcommand. */
export interface CliCommand {
  name: string;
  /** One line for `outlast --help`. */
  summary: string;
  /** Full usage text for `outlast NAME --help`. */
  usage: string;
  /** Resolves to the process exit code. */
  run(context: CliContext): Promise<number>;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
