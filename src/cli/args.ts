import { UsageError } from './command.js';

/** One command-line argument, as {@link readArgs} walks them. */
export interface CliArg {
  /** The flag's name without `--` (`max-wait`), or `null` for a positional argument. */
  name: string | null;
  /** The positional argument itself, or the flag's inline value (`--max-wait=5s`). */
  inline: string | undefined;
  /**
   * The flag's value: its inline value, else the next argument (which is then consumed).
   * @throws {UsageError} when there is none.
   */
  value(): string;
}

/**
 * Walks `argv` as `--name value`, `--name=value` and positional arguments. A boolean flag
 * simply never calls `value()`, so the next argument stays an argument of its own.
 */
export function* readArgs(argv: readonly string[]): Generator<CliArg> {
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i++]!;
    if (!arg.startsWith('--')) {
      yield { name: null, inline: arg, value: () => arg };
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    yield {
      name,
      inline,
      value: () => {
        if (inline !== undefined) return inline;
        const next = argv[i];
        if (next === undefined) throw new UsageError(`--${name} needs a value`);
        i++;
        return next;
      },
    };
  }
}

/** `HOST:PORT` (or `PORT`, or `[::1]:PORT`) of a `--flag`. */
export function parseHostPort(flag: string, text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$|^(\d+)$/.exec(text.trim());
  if (m === null)
    throw new UsageError(`--${flag} "${text}" must be HOST:PORT, e.g. 127.0.0.1:8080`);
  const port = Number(m[3] ?? m[4]);
  if (port > 65_535) throw new UsageError(`--${flag} port ${port} is above 65535`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
