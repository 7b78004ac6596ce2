import { writeFile } from 'node:fs/promises';
import { OutlastError } from '../errors.js';
import { attributeHops } from '../probe/engine/hops.js';
import { type ProbeReport, type ProbeTransport, runProbe } from '../probe/index.js';
import { renderHtmlReport } from '../probe/report/html.js';
import { formatHops, formatReport } from '../probe/report/text.js';
import { readArgs } from './args.js';
import { type CliCommand, type CliContext, interruptedExitCode, UsageError } from './command.js';
import { parseDuration } from './duration.js';
import { checkOutputFile } from './output.js';
import { ProbeProgressView } from './probe-progress.js';

const usage = `Usage: outlast probe URL [URL...] [--max-wait D] [--json] [--html FILE]
                     [--transports sse,websocket,long-poll] [--token T]

Measures what the network path to a probe server does to long-lived responses: the
first-byte limit, idle and total-duration clocks (SSE and WebSocket apart), silent drops,
buffering, whether long-polling works, the intermediaries on the way (with evidence), and
how each connection was cut. Every experiment runs at once: the probe takes about as long
as the longest limit it finds, or max-wait.

Several URLs reaching the same probe server through fewer and fewer layers (the public name,
the load balancer, the service) are probed side by side, outermost first, and each limit is
attributed to the hop where it first appears.

Options:
  --max-wait D          longest wait for any limit (default 6m); a limit not seen by then
                        is reported as "not reached up to D"
  --json                print the report as JSON (the stable contract in docs/probe.md)
  --html FILE           also write a self-contained HTML report with the timeline
  --transports LIST     which transports to measure (default sse,websocket,long-poll)
  --token T             the probe server's token (or ?token=T in the URL)

Run a probe server with \`outlast probe-server\` behind the infrastructure to measure.
`;

const TRANSPORTS: ProbeTransport[] = ['sse', 'websocket', 'long-poll'];

/** Parsed `outlast probe` arguments. */
export interface ProbeArgs {
  urls: string[];
  maxWaitMs: number | undefined;
  json: boolean;
  html: string | null;
  transports: ProbeTransport[] | undefined;
  token: string | null;
}

/** Parses the arguments of `outlast probe`. */
export function parseProbeArgs(argv: string[]): ProbeArgs {
  const args: ProbeArgs = {
    urls: [],
    maxWaitMs: undefined,
    json: false,
    html: null,
    transports: undefined,
    token: null,
  };
  const spec = {
    values: ['max-wait', 'html', 'token', 'transports'],
    booleans: ['json'],
    positionals: true,
  };
  for (const { name, value, on } of readArgs(argv, spec)) {
    if (name === null) {
      args.urls.push(value);
      continue;
    }
    if (name === 'json') {
      args.json = on;
      continue;
    }
    if (name === 'max-wait') args.maxWaitMs = parseDuration(value, '--max-wait');
    else if (name === 'html') args.html = value;
    else if (name === 'token') args.token = value;
    else if (name === 'transports') {
      const list = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      for (const t of list) {
        if (!TRANSPORTS.includes(t as ProbeTransport)) {
          throw new OutlastError(
            'invalid-option',
            `--transports "${t}" is not a transport; use ${TRANSPORTS.join(', ')}`,
          );
        }
      }
      args.transports = list as ProbeTransport[];
    }
  }
  if (args.urls.length === 0) throw new UsageError('a probe server URL is required');
  return args;
}

async function run(context: CliContext): Promise<number> {
  const { stdout, stderr, signal } = context;
  const args = parseProbeArgs(context.argv);
  // Before minutes of probing, not after: a report with nowhere to go is a wasted probe.
  const htmlPath = args.html === null ? null : await checkOutputFile('--html', args.html);
  const tty = !args.json && (stdout as { isTTY?: boolean }).isTTY === true;
  const views = args.urls.map(
    (_, i) =>
      new ProbeProgressView(
        args.json ? stderr : stdout,
        tty && args.urls.length === 1,
        args.urls.length > 1 ? `[layer ${i + 1}] ` : '',
      ),
  );
  let reports: ProbeReport[];
  try {
    reports = await Promise.all(
      args.urls.map((url, i) =>
        runProbe(url, {
          ...(args.maxWaitMs === undefined ? {} : { maxWaitMs: args.maxWaitMs }),
          ...(args.transports === undefined ? {} : { transports: args.transports }),
          token: args.token,
          signal,
          onProgress: views[i]!.onProgress,
        }),
      ),
    );
  } finally {
    for (const v of views) v.stop();
  }
  const hops = reports.length > 1 ? attributeHops(reports) : null;
  if (args.json) {
    stdout.write(
      `${JSON.stringify(hops === null ? reports[0] : { layers: reports, hops }, null, 2)}\n`,
    );
  } else {
    for (const r of reports) stdout.write(`${formatReport(r)}\n`);
    if (hops !== null) stdout.write(formatHops(reports, hops));
  }
  if (htmlPath !== null) {
    await writeFile(htmlPath, renderHtmlReport(reports, hops));
    (args.json ? stderr : stdout).write(`HTML report: ${htmlPath}\n`);
  }
  return reports.some((r) => r.interrupted) ? interruptedExitCode(signal) : 0;
}

/** `outlast probe`: measure a path's limits and name the culprit. */
export const probeCommand: CliCommand = {
  name: 'probe',
  summary: "measure a path's limits (idle, total, first byte, buffering) and name the culprit",
  usage,
  run,
};
