/** What every subcommand gets: its arguments and where to write. */
export interface CliContext {
  argv: string[];
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /**
   * Aborted on SIGINT/SIGTERM, with the signal's name (`'SIGINT'`, `'SIGTERM'`) as its reason:
   * long-running commands close cleanly when it fires.
   */
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

/** The exit code of a command stopped by `signal`: 130 for SIGINT, 143 for SIGTERM (128 + N). */
export function interruptedExitCode(signal: AbortSignal): number {
  return signal.reason === 'SIGTERM' ? 143 : 130;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** Printed beside the message, like every other error's code (docs/errors.md). */
  readonly code = 'invalid-option';
}
