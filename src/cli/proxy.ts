import { OutlastError } from '../errors.js';
import {
  createProxy,
  type HopKnobs,
  hopDefaults,
  type KnobSpec,
  knobSpecs,
  type Preset,
  presets,
} from '../proxy/index.js';
import { parseHostPort, readArgs } from './args.js';
import { type CliCommand, type CliContext, UsageError } from './command.js';
import { formatDuration, parseDuration } from './duration.js';

const OFF = new Set(['off', 'none', 'null']);

function knobUsage(): string {
  return knobSpecs
    .map((s) => {
      const value =
        s.kind === 'boolean'
          ? ''
          : s.kind === 'enum'
            ? ` ${s.values!.join('|')}`
            : s.kind === 'duration' || s.kind === 'duration-inherit'
              ? ' D'
              : s.kind === 'list'
                ? ' A,B'
                : s.kind === 'headers'
                  ? ' "N: V"'
                  : ' N';
      return `  --${`${s.flag}${value}`.padEnd(34)} ${s.help} (default ${formatValue(hopDefaults[s.key])})`;
    })
    .join('\n');
}

const usage = `Usage: outlast proxy --target URL [--listen HOST:PORT] [--preset NAME[,NAME...]]
                     [--time-scale F] [--control HOST:PORT|off] [knob flags]
       outlast proxy --list-presets

An HTTP-aware chaos proxy that reproduces real intermediaries: idle, total and first-byte
clocks, buffering, WebSocket policies, fingerprint headers and faults. A comma list of presets
makes a chain (client side first), one real listener per hop on loopback.

Options:
  --target URL                         where the last hop forwards to (required)
  --listen HOST:PORT                   first hop's address (default 127.0.0.1:0, a free port)
  --preset NAME[,NAME...]              presets, client side first (see --list-presets)
  --time-scale F                       multiply every duration of every hop (0.01: 15s -> 150ms)
  --control HOST:PORT|off              control API (default 127.0.0.1:0)
  --list-presets                       print every preset with its parameters and source

Knobs (applied to every hop, over its preset; durations like 250ms, 15s, 5m; "off" = null):
${knobUsage()}

Prints "outlast proxy listening on http://HOST:PORT" (the first hop) once ready; SIGINT or
SIGTERM closes it.
`;

function formatValue(value: unknown): string {
  if (value === null) return 'off';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  if (typeof value === 'object') {
    const entries = Object.entries(value as object);
    return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}: ${v}`).join('; ');
  }
  return String(value);
}

function formatKnob(spec: KnobSpec, value: unknown): string {
  if ((spec.kind === 'duration' || spec.kind === 'duration-inherit') && typeof value === 'number') {
    return formatDuration(value);
  }
  return formatValue(value);
}

function parseCount(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m)?$/i.exec(text.trim());
  if (m === null) {
    throw new OutlastError(
      'invalid-option',
      `--${flag} "${text}" is not a count; use 1000, 64k, 1m`,
    );
  }
  const mult = m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  return Math.round(Number(m[1]) * mult);
}

/** Parses one valued knob flag into `knobs` (repeatable header flags accumulate). */
function parseKnob(spec: KnobSpec, text: string, knobs: Record<string, unknown>): void {
  const flag = spec.flag;
  if (spec.nullable && OFF.has(text)) {
    knobs[spec.key] = null;
    return;
  }
  switch (spec.kind) {
    case 'duration':
    case 'duration-inherit':
      if (spec.kind === 'duration-inherit' && text === 'inherit') knobs[spec.key] = 'inherit';
      else knobs[spec.key] = text === '0' ? 0 : parseDuration(text, `--${flag}`);
      return;
    case 'count':
      knobs[spec.key] = parseCount(flag, text);
      return;
    case 'status':
    case 'probability': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) {
        throw new OutlastError('invalid-option', `--${flag} "${text}" is not a number`);
      }
      knobs[spec.key] = n;
      return;
    }
    case 'enum':
    case 'name':
      knobs[spec.key] = text;
      return;
    case 'list':
      knobs[spec.key] = OFF.has(text)
        ? []
        : text
            .split(',')
            .map((v) => v.trim())
            .filter((v) => v !== '');
      return;
    case 'headers': {
      const c = text.indexOf(':');
      if (c <= 0) throw new UsageError(`--${flag} "${text}" must look like "name: value"`);
      const current = (knobs[spec.key] ?? {}) as Record<string, string>;
      current[text.slice(0, c).trim()] = text.slice(c + 1).trim();
      knobs[spec.key] = current;
      return;
    }
  }
}

/** Splits `HOST:PORT` (`[::1]:8080`, `:8080`, `8080`). */
/** Every preset with the parameters it sets and its source. */
export function formatPresets(list: readonly Preset[] = presets): string {
  const lines: string[] = [];
  for (const p of list) {
    lines.push(`${p.name}: ${p.summary}`);
    const params = knobSpecs
      .filter((s) => p.knobs[s.key] !== undefined && s.key !== 'fingerprint')
      .map((s) => `${s.flag}=${formatKnob(s, p.knobs[s.key])}`);
    lines.push(`  ${params.join('  ')}`);
    lines.push(`  source: ${p.source}`);
    lines.push('');
  }
  return lines.join('\n');
}

async function run(context: CliContext): Promise<number> {
  const { argv, stdout, signal } = context;
  let target: string | undefined;
  let listen = { host: '127.0.0.1', port: 0 };
  let control: { host: string; port: number } | null = { host: '127.0.0.1', port: 0 };
  let preset: string | null = null;
  let timeScale = 1;
  const knobs: Record<string, unknown> = {};
  const specs = new Map(knobSpecs.map((s) => [s.flag, s]));
  const booleans = knobSpecs.filter((s) => s.kind === 'boolean').map((s) => s.flag);
  const values = knobSpecs.filter((s) => s.kind !== 'boolean').map((s) => s.flag);
  for (const { name, value, on } of readArgs(argv, {
    values: ['target', 'listen', 'control', 'preset', 'time-scale', ...values],
    booleans: ['list-presets', ...booleans],
  })) {
    const spec = specs.get(name!);
    if (name === 'list-presets') {
      if (!on) continue;
      stdout.write(formatPresets());
      return 0;
    }
    if (name === 'target') target = value;
    else if (name === 'listen') listen = parseHostPort(name, value);
    else if (name === 'control') control = OFF.has(value) ? null : parseHostPort(name, value);
    else if (name === 'preset') preset = value;
    else if (name === 'time-scale') {
      timeScale = Number(value);
      if (value.trim() === '' || !Number.isFinite(timeScale) || timeScale <= 0) {
        throw new OutlastError(
          'invalid-option',
          `--time-scale "${value}" must be a number > 0 (0.01 makes 15s fire at 150ms)`,
        );
      }
    } else if (spec?.kind === 'boolean') knobs[spec.key] = on;
    else if (spec !== undefined) parseKnob(spec, value, knobs);
  }
  if (target === undefined) throw new UsageError('--target URL is required');

  const proxy = await createProxy({
    target,
    host: listen.host,
    port: listen.port,
    preset,
    timeScale,
    knobs: knobs as Partial<HopKnobs>,
    control: control ?? false,
  });
  // One write, so a reader that waits for the first line gets the rest with it.
  const lines = [`outlast proxy listening on ${proxy.url}`];
  proxy.hops.forEach((hop, i) => {
    lines.push(`  hop ${i} ${hop.name.padEnd(20)} ${hop.url} -> ${hop.target.href}`);
  });
  if (timeScale !== 1) lines.push(`  time scale ${timeScale}`);
  if (proxy.controlUrl !== null) lines.push(`  control API on ${proxy.controlUrl}`);
  stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await proxy.close();
  stdout.write('outlast proxy closed\n');
  return 0;
}

/** `outlast proxy`: the chaos proxy on the command line. */
export const proxyCommand: CliCommand = {
  name: 'proxy',
  summary: 'HTTP-aware chaos proxy that reproduces real intermediaries (presets, chains, faults)',
  usage,
  run,
};
