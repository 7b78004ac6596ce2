import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { repoRoot } from '../cli/helpers.js';

/*
 * What a newcomer reads works as written: every link resolves inside the repository, the
 * command line has one form, and every error code the code can produce is in docs/errors.md.
 */

const docs = [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = (file: string): string => readFileSync(join(repoRoot, file), 'utf8');

/** Lines inside fenced shell blocks. */
function shellLines(md: string): string[] {
  const out: string[] = [];
  let inShell = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) {
      inShell = /^```(sh|bash|shell|console)\s*$/.test(line);
      continue;
    }
    if (inShell) out.push(line);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(`${dir}/${e.name}`)
      : e.name.endsWith('.ts')
        ? [`${dir}/${e.name}`]
        : [],
  );
}

describe('README and docs', () => {
  it('cite nothing outside the repository, and every relative link resolves', () => {
    for (const file of docs) {
      const md = text(file);
      expect(md, file).not.toMatch(/\/work\/|\/home\/|\/tmp\/outlast/);
      for (const [, target] of md.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target!)) continue;
        const path = target!.split('#')[0]!;
        expect(existsSync(join(repoRoot, dirname(file), path)), `${file} links ${target}`).toBe(
          true,
        );
      }
    }
  });

  it('ship the intermediary facts with their sources, linked from the docs that use them', () => {
    const facts = text('docs/intermediaries.md');
    expect(facts).toContain('| AWS ECS Service Connect (Envoy) |');
    expect(facts).toContain('## Sources');
    expect(facts).toContain(
      'https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts',
    );
    for (const file of ['docs/proxy.md', 'docs/client.md', 'docs/intermediaries-measured.md']) {
      expect(text(file), file).toContain('](intermediaries.md)');
    }
    expect(pkg.files).toContain('docs');
  });

  it('write the command line one way: npx outlast COMMAND', () => {
    const commands = /\boutlast (proxy|probe|probe-server|config|demo)\b/;
    for (const file of docs) {
      const md = text(file);
      expect(md, file).not.toContain('node bin/outlast.js');
      for (const line of shellLines(md)) {
        if (line.trimStart().startsWith('#')) continue;
        if (commands.test(line)) expect(line, file).toMatch(/(^|[;&|(]\s*)npx outlast /);
      }
      // Inline commands with options (`outlast demo --path X`) too; headings and fenced
      // blocks without a shell tag are synopses (as `--help` prints them).
      const prose = md
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
      for (const [, code] of prose.matchAll(/`([^`\n]+)`/g)) {
        if (/^outlast (proxy|probe|probe-server|config|demo) -/.test(code!)) {
          expect.fail(`${file}: \`${code}\` should read \`npx ${code}\``);
        }
      }
    }
    expect(text('README.md')).toContain('The command line is `npx outlast COMMAND`');
  });

  it('list every error code the code can produce in docs/errors.md', () => {
    const errors = text('docs/errors.md');
    const codes = new Set<string>();
    for (const file of sourceFiles('src')) {
      const src = text(file);
      for (const m of src.matchAll(
        /OutlastError\(\s*'([a-z-]+)'|code: '([a-z-]+)'|errorReply\(\s*\d+,\s*'([a-z-]+)'/g,
      )) {
        codes.add((m[1] ?? m[2] ?? m[3])!);
      }
    }
    expect(codes.size).toBeGreaterThan(30);
    const missing = [...codes].filter((c) => !errors.includes(`\`${c}\``));
    expect(missing, `add to docs/errors.md: ${missing.join(', ')}`).toEqual([]);
    expect(relative(repoRoot, join(repoRoot, 'docs/errors.md'))).toBe('docs/errors.md');
  });
});
