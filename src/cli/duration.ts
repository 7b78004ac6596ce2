import { OutlastError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/**
 * Parses a human duration (`250ms`, `15s`, `1.5s`, `5m`, `1h`) to milliseconds.
 * @throws {OutlastError} `invalid-option` naming the accepted format.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = DURATION.exec(text.trim());
  if (match === null) {
    throw new OutlastError(
      'invalid-option',
      `${what} "${text}" is not a duration; use a number with a unit: 250ms, 15s, 5m, 1h`,
    );
  }
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

/** Formats milliseconds the way {@link parseDuration} reads them (`150ms`, `15s`, `5m`). */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms % 100 === 0 ? 1 : 2)}s`;
  return `${Math.round(ms)}ms`;
}
