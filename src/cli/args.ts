import { OutlastError } from '../errors.js';
import { UsageError } from './command.js';

/** The flags one subcommand accepts: every `outlast` command reads its arguments through this. */
export interface ArgSpec {
  /** Flags that take a value: `--name value` or `--name=value`. */
  values: readonly string[];
  /**
   * Flags that take none: `--name` (on), `--no-name` (off), or `--name=true|false` (also
   * `yes|no`, `on|off`, `1|0`); any other inline value is refused.
   */
  booleans?: readonly string[];
  /** Whether positional arguments are accepted (default: no, each one is a usage error). */
  positionals?: boolean;
}

/** One command-line argument, as {@link readArgs} walks them. */
export interface CliArg {
  /** The flag's name without `--` (`max-wait`, `no-` removed), or `null` for a positional. */
  name: string | null;
  /** The positional argument or the flag's value (`'true'`/`'false'` for a boolean flag). */
  value: string;
  /** A boolean flag's state; `true` for every other argument. */
  on: boolean;
}

const TRUE = /^(true|yes|on|1)$/i;
const FALSE = /^(false|no|off|0)$/i;

/**
 * Reads a boolean flag's inline value.
 * @throws {OutlastError} `invalid-option` for anything but true/false, yes/no, on/off, 1/0.
 */
export function parseBoolean(flag: string, text: string): boolean {
  if (TRUE.test(text)) return true;
  if (FALSE.test(text)) return false;
  throw new OutlastError(
    'invalid-option',
    `--${flag}="${text}" is not a boolean; write --${flag} or --no-${flag} (or =true, =false)`,
  );
}

/**
 * Walks `argv` as `--name value`, `--name=value`, boolean `--name` / `--no-name` and
 * positional arguments, checking each flag against `spec` before reading any value, so an
 * unknown flag is reported as unknown wherever it stands.
 * @throws {UsageError} for an unknown option, a missing value or an unexpected positional.
 * @throws {OutlastError} `invalid-option` for a boolean flag with a value that is not one.
 */
export function* readArgs(argv: readonly string[], spec: ArgSpec): Generator<CliArg> {
  const values = new Set(spec.values);
  const booleans = new Set(spec.booleans ?? []);
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i++]!;
    if (arg === '-' || !arg.startsWith('-')) {
      if (spec.positionals !== true) throw new UsageError(`unexpected argument "${arg}"`);
      yield { name: null, value: arg, on: true };
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (booleans.has(name)) {
      const on = inline === undefined ? true : parseBoolean(name, inline);
      yield { name, value: String(on), on };
      continue;
    }
    if (name.startsWith('no-') && booleans.has(name.slice(3))) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      yield { name: name.slice(3), value: 'false', on: false };
      continue;
    }
    if (!values.has(name)) throw new UsageError(`unknown option --${name}`);
    if (inline !== undefined) {
      yield { name, value: inline, on: true };
      continue;
    }
    const next = argv[i];
    if (next === undefined) throw new UsageError(`--${name} needs a value`);
    if (next.startsWith('--') && next.length > 2) {
      throw new UsageError(`--${name} needs a value (found the option ${next} instead)`);
    }
    i++;
    yield { name, value: next, on: true };
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
