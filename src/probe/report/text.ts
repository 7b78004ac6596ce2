import type { HopLimit } from '../engine/hops.js';
import type { Culprit, ExperimentRecord, ProbeReport, Symptom } from '../engine/types.js';

/** `150 ms`, `1.5 s`, `15 s`, `6 min`. */
export function human(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1).replace(/\.?0+$/, '')} s`;
  return `${(ms / 60_000).toFixed(1).replace(/\.0$/, '')} min`;
}

/** What a symptom looks like, in words. */
export const symptomText: Record<Symptom, string> = {
  'status-before-headers': 'an error status from the intermediary instead of the headers',
  'close-before-headers': 'the connection closed before any response',
  'close-after-headers': 'the connection closed mid-stream (FIN after the headers)',
  'reset-after-headers': 'the connection was reset mid-stream (RST after the headers)',
  'cut-on-write': 'the connection died on the first write after a silence',
  'marker-lost': 'a marker sent after a silence never arrived (silent drop)',
  'websocket-closed': 'the WebSocket closed abnormally',
  'websocket-refused': 'the WebSocket upgrade was refused',
};

const value = (ms: number | null, maxWaitMs: number): string =>
  ms === null ? `not reached up to ${human(maxWaitMs)}` : human(ms);

/** The report as plain lines for a terminal or a log. */
export function formatReport(report: ProbeReport): string {
  const l = report.limits;
  const w = report.maxWaitMs;
  const lines = [
    report.interrupted
      ? `outlast probe ${report.target}: INTERRUPTED after ${human(report.durationMs)}; the limits found so far`
      : `outlast probe ${report.target}: ${human(report.durationMs)} (max-wait ${human(w)})`,
    '',
    'Limits',
    `  SSE first byte      ${value(l.sse.firstByteMs, w)}`,
    `  SSE idle            ${value(l.sse.idleMs, w)}`,
    `  SSE total           ${value(l.sse.totalMs, w)}`,
    `  WebSocket idle      ${report.transports.websocket.works ? value(l.websocket.idleMs, w) : `refused (${report.transports.websocket.status ?? 'no answer'})`}`,
    `  WebSocket total     ${report.transports.websocket.works ? value(l.websocket.totalMs, w) : '-'}`,
    `  long-polling        ${report.transports.longPoll.works ? 'works' : `fails (${report.transports.longPoll.status ?? 'no answer'})`}`,
    `  buffering           ${
      report.buffering.detected
        ? `held up to ${report.buffering.heldBytes} bytes; ${report.buffering.fixedByHeaders ? 'anti-buffering headers fix it' : 'anti-buffering headers do not help'}`
        : 'none seen'
    }`,
  ];
  const cuts = summariseCuts(report);
  if (cuts.length > 0) lines.push('', 'Cuts', ...cuts);
  lines.push('', 'Intermediaries');
  if (report.intermediaries.length === 0) lines.push('  none announced itself');
  for (const i of report.intermediaries) lines.push(`  ${i.name}: ${i.evidence.join('; ')}`);
  if (report.chain !== undefined) {
    lines.push(
      `  chain: ${report.chain.count} hop${report.chain.count === 1 ? '' : 's'} counted${report.chain.order.length > 0 ? `; order known: ${report.chain.order.join(' > ')} (outermost first)` : ''}`,
    );
    for (const e of report.chain.evidence.slice(1)) lines.push(`    ${e}`);
  }
  if (report.culprits.length > 0) {
    lines.push(
      '',
      'Culprits (basis: evidence = seen on the wire; inference = not seen, reasoned; unknown)',
    );
    for (const c of report.culprits) lines.push(...culpritLines(c));
  }
  const r = report.recommendation;
  lines.push(
    '',
    'Recommendation',
    `  transport ${r.transport}, heartbeat every ${human(r.heartbeatMs)}${r.maxStreamMs === null ? '' : `, end each stream before ${human(r.maxStreamMs)} and resume`}`,
    `  config: ${r.serverConfig.map((s) => s.for).join(', ')} (outlast config --for NAME prints one; --json has them all)`,
  );
  if (report.notes.length > 0) lines.push('', 'Notes', ...report.notes.map((n) => `  ${n}`));
  return `${lines.join('\n')}\n`;
}

/** A culprit as text: the finding (or the inference, worded as one), then its fix or how to learn more. */
/** Who a culprit is, as strongly as its basis allows: a name, a probable name, or unknown. */
export function culpritWho(c: Culprit): string {
  return c.basis === 'unknown'
    ? 'hop unknown'
    : c.basis === 'inference'
      ? `probably ${c.name}`
      : c.name;
}

/** The lines of one culprit in the text report: what it is, how sure, how to confirm and fix it. */
export function culpritLines(c: Culprit): string[] {
  const lines = [`  ${c.limit} ${human(c.valueMs)}: ${culpritWho(c)} [${c.basis}] ${c.reason}`];
  if (c.confirm !== undefined) lines.push(`    to confirm: ${c.confirm}`);
  if (c.fix !== null) lines.push(`    fix on ${c.name}: ${c.fix.line}  (${c.fix.where})`);
  for (const p of c.popOut ?? []) lines.push(`    to pop one piece out: ${p}`);
  return lines;
}

/** One line per kind of cut (experiments cut the same way at the same time are grouped). */
export function summariseCuts(report: ProbeReport): string[] {
  const groups = new Map<string, string[]>();
  for (const c of report.cuts) {
    const key = `${c.symptom}|${c.status ?? ''}|${Math.round(c.atMs / 50)}`;
    const list = groups.get(key) ?? [];
    list.push(c.experiment);
    groups.set(key, list);
  }
  const out: string[] = [];
  for (const [key, names] of groups) {
    const [symptom, status] = key.split('|') as [Symptom, string];
    const at = report.cuts.find((c) => c.experiment === names[0])!.atMs;
    const shown =
      names.length > 3 ? `${names.slice(0, 3).join(', ')} +${names.length - 3}` : names.join(', ');
    out.push(
      `  ${human(at).padStart(8)}  ${symptomText[symptom]}${status === '' ? '' : ` (${status})`}: ${shown}`,
    );
  }
  return out;
}

/** Several layers side by side, and the hop each limit belongs to. */
export function formatHops(reports: readonly ProbeReport[], hops: readonly HopLimit[]): string {
  const w = Math.max(...reports.map((r) => r.maxWaitMs));
  const cols = reports.map((_, i) => `layer ${i + 1}`.padEnd(16)).join('');
  const lines = ['Layers (outermost first)'];
  reports.forEach((r, i) => {
    lines.push(
      `  layer ${i + 1}: ${r.target}${r.intermediaries.length > 0 ? ` (${r.intermediaries.map((x) => x.name).join(', ')})` : ''}`,
    );
  });
  lines.push('', `  ${'limit'.padEnd(20)}${cols}`);
  for (const h of hops) {
    lines.push(
      `  ${h.limit.padEnd(20)}${h.values.map((v) => (v === null ? '-' : human(v)).padEnd(16)).join('')}`,
    );
  }
  lines.push('', 'Where each limit first appears');
  let any = false;
  for (const h of hops) {
    for (const a of h.appearsAt) {
      any = true;
      const inner =
        a.index + 1 < reports.length
          ? `layer ${a.index + 2} does not have it`
          : 'the innermost layer probed';
      lines.push(
        `  ${h.limit} ${human(a.valueMs)}: between layer ${a.index + 1} and what is behind it (${inner})`,
      );
    }
  }
  if (!any) lines.push(`  no limit up to ${human(w)} on any layer`);
  return `${lines.join('\n')}\n`;
}

/** One short line on an experiment's state, for the live display. */
export function experimentLine(r: ExperimentRecord): string {
  if (r.outcome === 'running') return `${r.name} running`;
  if (r.outcome === 'cut')
    return `${r.name} cut at ${human(r.endedAtMs ?? 0)}: ${symptomText[r.symptom!]}`;
  return `${r.name} ${r.outcome}`;
}
