import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientDefaults } from '../../src/client/index.js';
import { repoRoot } from '../cli/helpers.js';

/*
 * docs/client.md's option table covers every option of connect() (src/client/options.ts),
 * and each default there is the one in clientDefaults.
 */

const options = readFileSync(join(repoRoot, 'src/client/options.ts'), 'utf8');
const page = readFileSync(join(repoRoot, 'docs/client.md'), 'utf8');
const from = page.indexOf('\n## Options\n');
const doc = page.slice(from, page.indexOf('\n## ', from + 1));
const iface = options.slice(
  options.indexOf('export interface ConnectOptions'),
  options.indexOf('export const clientDefaults'),
);
const names = [...iface.matchAll(/^ {2}([a-zA-Z]+)\?:/gm)].map((m) => m[1]!);
/** The option table's rows: name -> default column. */
const rows = new Map(
  [...doc.matchAll(/^\| `([a-zA-Z]+)` +\| ([^|]+)\|/gm)].map((m) => [m[1]!, m[2]!.trim()]),
);

/** A default as the docs write it: numbers with `_` thousands, strings quoted. */
function written(value: unknown): string {
  if (typeof value === 'number')
    return value >= 1_000 ? value.toLocaleString('en').replaceAll(',', '_') : String(value);
  if (typeof value === 'string') return `'${value}'`;
  return JSON.stringify(value).replaceAll('"', "'").replaceAll(',', ', ');
}

describe('docs/client.md options', () => {
  it('lists every option of ConnectOptions', () => {
    expect(names.length).toBeGreaterThan(30);
    expect(names.filter((n) => !rows.has(n))).toEqual([]);
  });

  it.each(Object.entries(clientDefaults))(
    '%s: the documented default is clientDefaults',
    (name, value) => {
      const cell = rows.get(name);
      expect(cell, `${name} has a row`).toBeDefined();
      expect(cell).toContain(`\`${written(value)}\``);
    },
  );
});
