import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { connect } from '../client/index.js';
import { OutlastError } from '../errors.js';
import { runProbe } from '../probe/index.js';
import { renderHtmlReport } from '../probe/report/html.js';
import { culpritWho, human } from '../probe/report/text.js';
import { createProxy, parsePresetList } from '../proxy/index.js';
import { readArgs } from './args.js';
import type { CliCommand, CliContext } from './command.js';
import { DEMO_PAGES, plainSseClient, startDemoApp } from './demo-app.js';
import { describeLateness, measureLateness } from './demo-story.js';
import { parseDuration } from './duration.js';
import { checkOutputFile } from './output.js';

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
  const names = presets.map((p) => p.name);
  // Before any work: a report with nowhere to go is a wasted run.
  const htmlPath = html === null ? null : await checkOutputFile('--html', html);
  const say = (line = ''): void => {
    stdout.write(`${line}\n`);
  };
  // Every time shown twice: as it runs here, and what it is in production.
  const t = (ms: number): string => `${human(ms)} (${human(ms / scale)} in production)`;
  const started = performance.now();
  const jobMs = 45_000 * scale;
  const pageMs = jobMs / DEMO_PAGES;
  const incident = names.join(',') === demoDefaults.path;

  const app = await startDemoApp(scale);
  const proxy = await createProxy({ target: app.origin, preset: path, timeScale: scale });
  try {
    say(
      incident
        ? 'outlast demo: the Service Connect incident, replayed on this machine'
        : `outlast demo: a long job through ${names.join(' -> ')}, simulated on this machine`,
    );
    say(`  path    client -> ${names.join(' -> ')} -> outlast server (simulated by outlast proxy)`);
    say(
      `  clocks  ${Math.round(1 / scale)}x faster than production; times read "here (production)"`,
    );
    say(`  job     OCR of a ${DEMO_PAGES}-page PDF, one progress event per page: ${t(jobMs)}`);
    say();

    say('1. A plain SSE client starts the job and reads its stream, as most code does');
    const plain = await plainSseClient(proxy.url);
    const plainLate = measureLateness(app.published.get('plain') ?? [], plain.arrivals);
    if (plain.result) {
      say(
        plainLate?.nothingUntilEnd || (plainLate?.worstMs ?? 0) > Math.max(50, pageMs / 10)
          ? `   it got the result after ${t(plain.endedAtMs)}, but late: ${describeLateness(plainLate, pageMs, t)}`
          : `   it got the result after ${t(plain.endedAtMs)}: this path did not cut it, and ${describeLateness(plainLate, pageMs, t)}`,
      );
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
      say(`   culprit: ${c.limit} ${human(c.valueMs)}: ${culpritWho(c)}: ${c.reason}`);
    }
    const r = report.recommendation;
    // The probe caps its heartbeat at the server's 15 s default, a production figure: here
    // that default runs scaled like every other clock.
    const heartbeat = Math.min(r.heartbeatMs, Math.round(15_000 * scale));
    say(
      `   advice: ${r.transport}, heartbeat every ${t(heartbeat)}${r.maxStreamMs === null ? '' : `, streams shorter than ${t(r.maxStreamMs)}`}; config for ${r.serverConfig.map((s) => s.for).join(', ')}`,
    );
    say(`   probe took ${t(report.durationMs)}`);
    say();

    say('3. The outlast client runs the same job (it knows nothing yet; it learns from each cut)');
    // The client's own clocks, production defaults, scaled like the path's.
    const conn = connect(`${proxy.url}/outlast/jobs/ocr`, {
      body: { document: 'scan.pdf', run: 'outlast' },
      WebSocket,
      profile: 'memory',
      initialDelayMs: Math.max(10, 500 * scale),
      maxDelayMs: Math.max(100, 30_000 * scale),
      healthyAfterMs: Math.max(100, 10_000 * scale),
      openTimeoutMs: Math.max(1000, 30_000 * scale),
      holdTimeoutMs: Math.max(50, 2_000 * scale),
      pollWaitMs: Math.max(100, 25_000 * scale),
      signal,
    });
    const c0 = performance.now();
    const since = (): string => human(performance.now() - c0).padStart(7);
    let cuts = 0;
    let lessons = 0;
    conn.on('open', (o) =>
      say(
        `   ${since()}  open over ${o.transport}${o.maxStreamMs === null ? '' : `, rotating every ${t(o.maxStreamMs)}`}`,
      ),
    );
    conn.on('cut', (c) => {
      if (c.cause !== 'server-rotation') cuts++;
      say(
        `   ${since()}  cut: ${c.cause} after ${t(c.sinceRequestMs)}${c.status === undefined ? '' : ` (HTTP ${c.status})`}`,
      );
    });
    conn.on('learn', (x) => {
      lessons++;
      say(`   ${since()}  learned (${x.rule}): ${x.note}`);
    });
    conn.on('transport', (x) => say(`   ${since()}  moved ${x.from} -> ${x.to}: ${x.reason}`));
    const ids = new Set<string>();
    const arrivals: number[] = [];
    let events = 0;
    for await (const e of conn) {
      events++;
      if (e.id !== null && !ids.has(e.id) && e.type === 'progress')
        arrivals.push(performance.now());
      if (e.id !== null) ids.add(e.id);
    }
    const result = await conn.result;
    const lost = DEMO_PAGES - ids.size;
    const dup = events - ids.size;
    const profile = conn.pathProfile;
    say(
      `   ${since()}  done: ${ids.size} of ${DEMO_PAGES} pages, result ${result === undefined ? 'missing' : 'received'}, ${lost} lost, ${dup} duplicated`,
    );
    const late = measureLateness(app.published.get('outlast') ?? [], arrivals);
    say(`   progress: ${describeLateness(late, pageMs, t)}`);
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
    const probeSaid = `the probe had said: ${r.transport}${r.maxStreamMs === null ? '' : ` or streams under ${t(r.maxStreamMs)}`}`;
    say(
      cuts === 0
        ? `   ${probeSaid}; nothing cut the client, so it had nothing to learn`
        : `   ${probeSaid}; the client knew nothing of it and found its way from ${cuts} cut${cuts === 1 ? '' : 's'} (${lessons} lesson${lessons === 1 ? '' : 's'})`,
    );
    say();

    const file = htmlPath ?? join(await mkdtemp(join(tmpdir(), 'outlast-demo-')), 'report.html');
    await writeFile(file, renderHtmlReport([report]));
    say(`4. HTML report (timeline of every probe connection, the culprit, the fixes): ${file}`);
    say();
    const others = ['nginx-gzip', 'heroku', 'gcp-lb', 'corporate-av', demoDefaults.path].filter(
      (p) => p !== names.join(','),
    );
    say(
      `Done in ${human(performance.now() - started)}. Try another path: npx outlast demo --path ${others[0]} (or ${others
        .slice(1)
        .join(', ')})`,
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
