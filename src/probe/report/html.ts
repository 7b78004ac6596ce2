import { type HopLimit, limitKeys } from '../engine/hops.js';
import type { ProbeReport } from '../engine/types.js';
import { human, summariseCuts } from './text.js';
import { renderTimeline, type TimelineData } from './timeline.js';

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** The timeline's data for one report. */
export function timelineData(report: ProbeReport): TimelineData {
  const labels: Record<string, string> = {
    'sse.firstByteMs': 'SSE first byte',
    'sse.idleMs': 'SSE idle',
    'sse.totalMs': 'SSE total',
    'websocket.idleMs': 'WS idle',
    'websocket.totalMs': 'WS total',
  };
  const limits: TimelineData['limits'] = [];
  for (const key of limitKeys) {
    const [t, n] = key.split('.') as ['sse' | 'websocket', string];
    const v = (report.limits[t] as Record<string, number | null>)[n];
    if (v !== null && v !== undefined) limits.push({ label: labels[key]!, ms: v, value: v });
  }
  const end = Math.max(
    report.durationMs,
    ...report.experiments.map((e) => e.openedAtMs + (e.endedAtMs ?? 0)),
  );
  return { experiments: report.experiments, limits, maxMs: Math.ceil(end * 1.02) };
}

/** The page's stylesheet (shared with the browser page). */
export const reportCss = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #eee}
.culprit{background:#fff3f0;border-left:4px solid #d02b2b;padding:10px 14px}.ok{color:#2a9d4b}pre{background:#f6f7f9;padding:10px;overflow:auto;font-size:12px}
.muted{color:#777}.basis{font:11px monospace;padding:1px 5px;border-radius:3px;color:#fff}.basis.evidence{background:#2a9d4b}.basis.inference{background:#c98a00}.basis.unknown{background:#777}svg{max-width:100%;height:auto;border:1px solid #eee}`;

function limitRow(label: string, ms: number | null, maxWaitMs: number): string {
  return `<tr><td>${label}</td><td>${ms === null ? `<span class="ok">not reached up to ${human(maxWaitMs)}</span>` : `<b>${human(ms)}</b>`}</td></tr>`;
}

function section(report: ProbeReport, title: string): string {
  const l = report.limits;
  const w = report.maxWaitMs;
  const r = report.recommendation;
  const culprits = report.culprits
    .map(
      (c) =>
        `<li><span class="basis ${c.basis}">${c.basis}</span> <b>${esc(c.basis === 'unknown' ? 'hop unknown' : c.basis === 'inference' ? `probably ${c.name}` : c.name)}</b>: ${esc(c.limit)} ${human(c.valueMs)}. <span class="muted">${esc(c.reason)}</span>${c.confirm === undefined ? '' : `<br>To confirm: ${esc(c.confirm)}`}${c.fix === null ? '' : `<br>Fix on ${esc(c.name)}: <code>${esc(c.fix.line)}</code> <span class="muted">(${esc(c.fix.where)})</span>`}${(c.popOut ?? []).map((p) => `<br>To pop one piece out: <code>${esc(p)}</code>`).join('')}</li>`,
    )
    .join('');
  return `<h2>${esc(title)}</h2>
<p class="muted">${esc(report.target)}: probed for ${human(report.durationMs)} (max-wait ${human(w)})</p>
${culprits === '' ? '<p class="ok">No limit cut a connection up to max-wait.</p>' : `<div class="culprit"><b>Culprit</b> <span class="muted">(evidence: seen on the wire; inference: not seen, reasoned, with what would confirm it; unknown: how to find out)</span><ul>${culprits}</ul></div>`}
<h3>Timeline</h3>
${renderTimeline(timelineData(report))}
<h3>Limits</h3>
<table>${limitRow('SSE first byte', l.sse.firstByteMs, w)}${limitRow('SSE idle', l.sse.idleMs, w)}${limitRow('SSE total', l.sse.totalMs, w)}
${report.transports.websocket.works ? `${limitRow('WebSocket idle', l.websocket.idleMs, w)}${limitRow('WebSocket total', l.websocket.totalMs, w)}` : `<tr><td>WebSocket</td><td><b>refused</b> (${report.transports.websocket.status ?? 'no answer'})</td></tr>`}
<tr><td>long-polling</td><td>${report.transports.longPoll.works ? 'works' : '<b>fails</b>'}</td></tr>
<tr><td>buffering</td><td>${report.buffering.detected ? `<b>held up to ${report.buffering.heldBytes} bytes</b>; ${report.buffering.fixedByHeaders ? 'anti-buffering headers fix it' : 'anti-buffering headers do not help'}` : 'none seen'}</td></tr></table>
<h3>Cuts</h3>
${report.cuts.length === 0 ? '<p>none</p>' : `<pre>${esc(summariseCuts(report).join('\n'))}</pre>`}
<h3>Intermediaries</h3>
<ul>${report.intermediaries.map((i) => `<li><b>${esc(i.name)}</b>: ${esc(i.evidence.join('; '))}</li>`).join('') || '<li>none announced itself</li>'}</ul>
${report.chain === undefined ? '' : `<p>Chain: ${report.chain.count} hop${report.chain.count === 1 ? '' : 's'} counted${report.chain.order.length > 0 ? `; order known: ${esc(report.chain.order.join(' > '))} (outermost first)` : ''}.</p><ul>${report.chain.evidence.map((e) => `<li class="muted">${esc(e)}</li>`).join('')}</ul>`}
<h3>Fixes</h3>
<p>Transport <b>${r.transport}</b>, heartbeat every <b>${human(r.heartbeatMs)}</b>${r.maxStreamMs === null ? '' : `, end each stream before <b>${human(r.maxStreamMs)}</b> and resume`}.</p>
${r.serverConfig.map((s) => `<p><b>${esc(s.title)}</b></p><pre>${esc(s.snippet)}</pre>`).join('\n')}
${report.notes.length === 0 ? '' : `<h3>Notes</h3><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`}`;
}

/**
 * A self-contained HTML report (no network: inline CSS and SVG): per layer, the culprit, the
 * timeline of every experiment's connection, the limits, the cuts, the intermediaries and
 * the fixes; with several layers, where each limit first appears.
 */
export function renderHtmlReport(
  reports: readonly ProbeReport[],
  hops: readonly HopLimit[] | null = null,
): string {
  const sections = reports
    .map((r, i) => section(r, reports.length > 1 ? `Layer ${i + 1}` : 'Path'))
    .join('\n');
  const hopTable =
    hops === null
      ? ''
      : `<h2>Which hop?</h2><table><tr><th>limit</th>${reports.map((_, i) => `<th>layer ${i + 1}</th>`).join('')}<th>first appears</th></tr>${hops
          .map(
            (h) =>
              `<tr><td>${h.limit}</td>${h.values.map((v) => `<td>${v === null ? '-' : human(v)}</td>`).join('')}<td>${h.appearsAt.map((a) => `layer ${a.index + 1} (${human(a.valueMs)})`).join(', ') || '-'}</td></tr>`,
          )
          .join('')}</table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>outlast probe report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${reportCss}</style></head>
<body><h1>outlast probe report</h1>
<p class="muted">Generated ${new Date().toISOString()}. Each row of a timeline is one connection the probe held open: grey while waiting for headers, blue while streaming, ticks where bytes arrived, a red cross where the path cut it.</p>
${hopTable}
${sections}
</body></html>
`;
}
