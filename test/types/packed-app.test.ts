import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, run } from '../cli/helpers.js';

/*
 * The package as a user gets it: `npm pack`, the tarball unpacked into a scratch app's
 * node_modules beside the dependencies it declares (linked from this repository's
 * node_modules: no network), and the app compiled with `strict` and no `skipLibCheck`.
 * Two apps: one without @types/ws (server, proxy, probe, wire, metrics, the client with the
 * platform's WebSocket), one with it (the client given `ws`'s WebSocket, as the docs say).
 * `npm test` builds dist/ before the tests; run `npm run build` first when running this alone.
 */

const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
let dir: string;
let pkgDir: string;
let tarball: string;

const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    types: ['node'],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
  },
  include: ['app.ts'],
};

const serverApp = `
import { createServer } from 'node:http';
import { attachWebSocket, createOutlast, hardenServer, type JobContext } from 'outlast/server';
import { connect } from 'outlast/client';
import { createProxy } from 'outlast/proxy';
import { createProbeHandler, renderConfig, runProbe, type ProbeReport } from 'outlast/probe';
import { createParser, formatEvent } from 'outlast/wire';
import { createMetrics } from 'outlast/metrics';
import { OutlastError, isOutlastError } from 'outlast';

async function ocr({ input, progress, signal }: JobContext<{ document: string }>) {
  for (let page = 1; page <= 9; page++) {
    if (signal.aborted) throw signal.reason;
    await progress({ page, of: 9 });
  }
  return { document: input.document, text: '...' };
}

const metrics = createMetrics();
const outlast = createOutlast({ jobs: { ocr }, maxStreamMs: 12_000, metrics });
const probe = createProbeHandler({ token: process.env.PROBE_TOKEN ?? null });
const server = hardenServer(
  createServer((req, res) => probe.handleNode(req, res, () => outlast.handleNode(req, res))),
);
const detach: () => void = attachWebSocket(outlast, server);
probe.attachWebSocket(server);
server.listen(0);
await outlast.publish('news', { event: 'headline', data: { title: 'hi' } });

const proxy = await createProxy({
  target: 'http://127.0.0.1:8000',
  preset: 'cloudflare,aws-alb,aws-service-connect',
  timeScale: 0.01,
  control: true,
});
proxy.set({ resetProbability: 0.05, latencyMs: 20 });
proxy.set({ idleMs: 2_000 }, 'aws-alb');
await proxy.close();

const report: ProbeReport = await runProbe('http://127.0.0.1:8080/outlast-probe', { maxWaitMs: 1000 });
const total: number | null = report.limits.sse.totalMs;
const interrupted: boolean = report.interrupted;
const snippet: string = renderConfig('nginx', { heartbeatMs: report.recommendation.heartbeatMs });

// The client with the platform's WebSocket (browsers, Node 22).
const conn = connect('http://localhost:3000/outlast/jobs/ocr', { body: { document: 'scan.pdf' } });
conn.on('cut', (c) => console.log(c.cause, c.status ?? ''));
for await (const event of conn) console.log(event.type, event.data);
console.log(await conn.result, total, interrupted, snippet, formatEvent({ data: 1 }));
createParser({ onEvent: (e) => console.log(e.data) }).feed(new Uint8Array());
try {
  detach();
} catch (error) {
  if (isOutlastError(error, 'invalid-option') || error instanceof OutlastError) throw error;
}
`;

const wsApp = `
import WebSocket from 'ws';
import { connect, type WebSocketLike } from 'outlast/client';

const conn = connect('http://localhost:3000/outlast/jobs/ocr', {
  body: { document: 'scan.pdf' },
  WebSocket,
  transports: ['ws', 'sse'],
});
const ctor: WebSocketLike = WebSocket;
for await (const event of conn) console.log(event.id, event.data);
console.log(await conn.result, ctor);
`;

async function app(name: string, source: string, deps: string[]): Promise<string> {
  const root = join(dir, name);
  await mkdir(join(root, 'node_modules/@types'), { recursive: true });
  // Unpacked in place (not linked): types resolve their imports from the app's node_modules.
  await mkdir(join(root, 'node_modules/outlast'));
  const untar = await run('tar', [
    '-xzf',
    tarball,
    '-C',
    join(root, 'node_modules/outlast'),
    '--strip-components=1',
  ]);
  expect(untar.code, untar.err).toBe(0);
  for (const dep of deps) {
    await symlink(join(repoRoot, 'node_modules', dep), join(root, 'node_modules', dep), 'dir');
  }
  await writeFile(
    join(root, 'package.json'),
    JSON.stringify({ name, type: 'module', private: true }),
  );
  await writeFile(join(root, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  await writeFile(join(root, 'app.ts'), source);
  return root;
}

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist/server/index.d.ts'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test builds it first)');
  }
  dir = await mkdtemp(join(tmpdir(), 'outlast-packed-'));
  const packed = await run(
    'npm',
    ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir],
    { timeoutMs: 60_000 },
  );
  expect(packed.code, packed.err).toBe(0);
  tarball = join(dir, packed.out.trim().split('\n').at(-1)!);
  pkgDir = join(dir, 'package');
  const untar = await run('tar', ['-xzf', tarball, '-C', dir], { timeoutMs: 30_000 });
  expect(untar.code, untar.err).toBe(0);
}, 90_000);
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the packed package in a strict app', () => {
  // What an app gets by installing outlast: its declared dependencies, plus what it brings.
  const base = [
    'ws',
    'prom-client',
    'bintrees',
    'tdigest',
    '@opentelemetry',
    '@types/node',
    'undici-types',
  ];

  it('compiles server, proxy, probe, wire, metrics and client without @types/ws', {
    timeout: 60_000,
  }, async () => {
    const root = await app(
      'plain',
      serverApp,
      base.filter((d) => existsSync(join(repoRoot, 'node_modules', d))),
    );
    expect(existsSync(join(root, 'node_modules/@types/ws'))).toBe(false);
    const r = await run(process.execPath, [tsc, '-p', root], { timeoutMs: 60_000 });
    expect(r.out + r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it("compiles the client given ws's WebSocket, without a cast", { timeout: 60_000 }, async () => {
    const root = await app(
      'with-ws',
      wsApp,
      [...base, '@types/ws'].filter((d) => existsSync(join(repoRoot, 'node_modules', d))),
    );
    const r = await run(process.execPath, [tsc, '-p', root], { timeoutMs: 60_000 });
    expect(r.out + r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('ships the sources its source maps point to', () => {
    const maps: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.map')) maps.push(p);
      }
    };
    walk(join(pkgDir, 'dist'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] };
      for (const s of sources) {
        const file = resolve(dirname(map), s);
        if (!existsSync(file)) missing.push(`${map.slice(pkgDir.length)} -> ${s}`);
      }
    }
    expect(missing.slice(0, 5)).toEqual([]);
  });
});
