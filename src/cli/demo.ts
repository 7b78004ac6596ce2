import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { connect } from '../client/index.js';
import { OutlastError } from '../errors.js';
import { runProbe } from '../probe/index.js';
import { renderHtmlReport } from '../probe/report/html.js';
import { human } from '../probe/report/text.js';
import { createProxy, parsePresetList } from '../proxy/index.js';
import { readArgs } from './args.js';
import type { CliCommand, CliContext } from './command.js';
import { DEMO_PAGES, plainSseClient, startDemoApp } from './demo-app.js';
import { parseDuration } from './duration.js';

/** Defaults of `outlast demo`. */
export const demoDefaults = {
  /** The Service Connect incident's path. */
  path: 'cloudflare,aws-alb,aws-service-connect',
  /** Every clock 10 times faster than in production: the whole story in about 30 s. */
  timeScale: 0.1,
  /** The probe's max-wait in production time (Cloudflare's 100 s fits). */
  maxWaitMs: 120_000,
};

const usage = `Usage: outlast demo [--path PRESETS] [--time-scale F] [--max-wait D] [--html FILE]

Replays the Service Connect incident on a laptop: a 45 s OCR job on an outlast server behind a simulated
Cloudflare -> AWS ALB -> ECS Service Connect path (the proxy's presets, time-scaled). A plain
SSE client loses the job; outlast probe finds and names the clock; the outlast client
completes the same job with no event lost and says what it chose and why; an HTML report is
written. \`npm start\` runs it.

Options:
  --path PRESETS    the path, client side first (default ${demoDefaults.path});
                    see \`outlast proxy --list-presets\`
  --time-scale F    how much faster than production the clocks run (default ${demoDefaults.timeScale})
  --max-wait D      the probe's max-wait in production time (default 2m)
  --html FILE       where to write the report (default: a new temp directory)
`;

async function run(context: CliContext): Promise<number> {
  const { argv, stdout, signal } = context;
  let path = demoDefaults.path;
  let scale = demoDefaults.timeScale;
  let maxWaitMs = demoDefaults.maxWaitMs;
  let html: string | null = null;
  for (const { name, value } of readArgs(argv, {
    values: ['path', 'time-scale', 'max-wait', 'html'],
  })) {
    if (name === 'path') path = value;
    else if (name === 'time-scale') {
      scale = Number(value);
      if (value.trim() === '' || !Number.isFinite(scale) || scale <= 0 || scale > 1) {
        throw new OutlastError(
          'invalid-option',
          `--time-scale "${value}" must be a number in (0, 1] (0.1 runs the clocks 10x faster than production)`,
        );
      }
    } else if (name === 'max-wait') maxWaitMs = parseDuration(value, '--max-wait');
    else if (name === 'html') html = value;
  }
  const presets = parsePresetList(path);
  const say = (line = ''): void => {
    stdout.write(`${line}\n`);
  };
  // Every time shown twice: as it runs here, and what it is in production.
  const t = (ms: number): string => `${human(ms)} (${human(ms / scale)} in production)`;
  const started = performance.now();

  const app = await startDemoApp(scale);
  const proxy = await createProxy({ target: app.origin, preset: path, timeScale: scale });
  try {
    say('outlast demo: the Service Connect incident, replayed on this machine');
    say(
      `  path    client -> ${presets.map((p) => p.name).join(' -> ')} -> outlast server (simulated by outlast proxy)`,
    );
    say(`  clocks  ${1 / scale}x faster than production; times read "here (production)"`);
    say(
      `  job     OCR of a ${DEMO_PAGES}-page PDF, one progress event per page: ${t(45_000 * scale)}`,
    );
    say();

    say('1. A plain SSE client starts the job and reads its stream, as most code does');
    const plain = await plainSseClient(proxy.url);
    if (plain.result) {
      say(`   it got the result after ${t(plain.endedAtMs)}: this path did not cut it`);
    } else {
      say(`   LOST after ${t(plain.endedAtMs)}: ${plain.how}`);
      say(
        `   ${plain.progress} of ${DEMO_PAGES} pages seen, no result; the job runs on, nobody is listening`,
      );
    }
    say();

    const wait = Math.round(maxWaitMs * scale);
    say(`2. outlast probe measures the path: every experiment at once, max-wait ${t(wait)}`);
    const report = await runProbe(`${proxy.url}/outlast-probe`, { maxWaitMs: wait, signal });
    const l = report.limits;
    const show = (label: string, v: number | null): void =>
      say(`   ${label.padEnd(22)}${v === null ? `not reached up to ${t(wait)}` : t(v)}`);
    show('SSE first byte', l.sse.firstByteMs);
    show('SSE idle', l.sse.idleMs);
    show('SSE total (busy!)', l.sse.totalMs);
    if (report.transports.websocket.works) {
      show('WebSocket idle', l.websocket.idleMs);
      show('WebSocket total', l.websocket.totalMs);
    } else say(`   WebSocket             refused (${report.transports.websocket.status})`);
    if (report.buffering.detected)
      say(`   buffering             ${report.buffering.heldBytes} bytes held`);
    for (const c of report.culprits) {
      say(`   culprit: ${c.limit} ${human(c.valueMs)} is ${c.name}: ${c.reason}`);
    }
    const r = report.recommendation;
    say(
      `   advice: ${r.transport}, heartbeat every ${t(r.heartbeatMs)}${r.maxStreamMs === null ? '' : `, streams shorter than ${t(r.maxStreamMs)}`}; config for ${r.serverConfig.map((s) => s.for).join(', ')}`,
    );
    say(`   probe took ${t(report.durationMs)}`);
    say();

    say('3. The outlast client runs the same job (it knows nothing yet; it learns from each cut)');
    const conn = connect(`${proxy.url}/outlast/jobs/ocr`, {
      body: { document: 'scan.pdf' },
      WebSocket,
      profile: 'memory',
      initialDelayMs: Math.max(10, 500 * scale),
      openTimeoutMs: Math.max(1000, 30_000 * scale),
      signal,
    });
    const c0 = performance.now();
    const since = (): string => human(performance.now() - c0).padStart(7);
    conn.on('open', (o) =>
      say(
        `   ${since()}  open over ${o.transport}${o.maxStreamMs === null ? '' : `, rotating every ${t(o.maxStreamMs)}`}`,
      ),
    );
    conn.on('cut', (c) =>
      say(
        `   ${since()}  cut: ${c.cause} after ${t(c.sinceRequestMs)}${c.status === undefined ? '' : ` (HTTP ${c.status})`}`,
      ),
    );
    conn.on('learn', (x) => say(`   ${since()}  learned (${x.rule}): ${x.note}`));
    conn.on('transport', (x) => say(`   ${since()}  moved ${x.from} -> ${x.to}: ${x.reason}`));
    const ids = new Set<string>();
    let events = 0;
    for await (const e of conn) {
      events++;
      if (e.id !== null) ids.add(e.id);
    }
    const result = await conn.result;
    const lost = DEMO_PAGES - ids.size;
    const dup = events - ids.size;
    const profile = conn.pathProfile;
    say(
      `   ${since()}  done: ${ids.size} of ${DEMO_PAGES} pages, result ${result === undefined ? 'missing' : 'received'}, ${lost} lost, ${dup} duplicated`,
    );
    say(
      `   chose ${conn.transport}${profile?.heartbeatMs ? `, heartbeat ${t(profile.heartbeatMs)}` : ''}${
        profile && Object.keys(profile.maxStreamMs).length > 0
          ? `, rotation ${Object.entries(profile.maxStreamMs)
              .map(([k, v]) => `${k} ${t(v)}`)
              .join(', ')}`
          : ''
      }`,
    );
    for (const note of profile?.notes ?? []) say(`   why: ${note}`);
    say(
      `   the probe had said: ${r.transport}${r.maxStreamMs === null ? '' : ` or streams under ${t(r.maxStreamMs)}`}; both survive this path, the client found its way from the cuts alone`,
    );
    say();

    const file = resolve(
      html ?? join(await mkdtemp(join(tmpdir(), 'outlast-demo-')), 'report.html'),
    );
    await writeFile(file, renderHtmlReport([report]));
    say(`4. HTML report (timeline of every probe connection, the culprit, the fixes): ${file}`);
    say();
    say(
      `Done in ${human(performance.now() - started)}. Try another path: outlast demo --path nginx-gzip (or heroku, gcp-lb, corporate-av...)`,
    );
    return lost === 0 && dup === 0 && result !== undefined ? 0 : 1;
  } finally {
    await proxy.close();
    await app.close();
  }
}

/** `outlast demo` (`npm start`): the Service Connect incident's story, end to end. */
export const demoCommand: CliCommand = {
  name: 'demo',
  summary:
    'replay a real incident: a job lost behind Cloudflare -> ALB -> Service Connect, found, fixed',
  usage,
  run,
};
