import { reportCss } from '../report/html.js';
import { renderTimeline } from '../report/timeline.js';
import { browserProbe } from './page-script.js';

/**
 * The browser probe page: runs {@link browserProbe} from the browser that opens it and draws
 * the same timeline as the HTML report ({@link renderTimeline}, embedded by its source).
 * Query: `token`, `maxWait` (ms, default 120000), `autorun=1`.
 */
export function probePage(basePath: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>outlast probe (browser)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${reportCss}</style></head>
<body><h1>outlast probe, from this browser</h1>
<p class="muted">Measures the path between this browser and the probe server (corporate proxy, CDN, load balancers): every experiment at once; each row of the timeline is one connection.</p>
<p><label>max-wait (s) <input id="wait" type="number" min="1" value="120" style="width:6em"></label>
<button id="run">Run probe</button> <span id="status" class="muted"></span></p>
<div id="limits"></div><div id="chart"></div>
<script>
var __name = function (f) { return f; };
var renderTimeline = ${renderTimeline.toString()};
var browserProbe = ${browserProbe.toString()};
(function () {
  var params = new URLSearchParams(location.search);
  var token = params.get('token');
  var base = ${JSON.stringify(basePath)};
  if (params.get('maxWait')) document.getElementById('wait').value = String(Number(params.get('maxWait')) / 1000);
  function fmt(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : (+(ms / 1000).toFixed(2)) + ' s'; }
  function draw(list, elapsed, wait, limits) {
    var lim = [];
    if (limits) for (var k in limits) if (limits[k] !== null) lim.push({ label: k, ms: limits[k] });
    document.getElementById('chart').innerHTML = renderTimeline({ experiments: list, limits: lim, maxMs: Math.max(wait, elapsed) * 1.02 });
  }
  async function run() {
    var wait = Math.max(1, Number(document.getElementById('wait').value)) * 1000;
    var status = document.getElementById('status');
    document.body.dataset.state = 'running';
    status.textContent = 'running...';
    var report = await browserProbe(base, token, wait, function (list, elapsed) {
      status.textContent = 'running: ' + fmt(elapsed) + ' of up to ' + fmt(wait);
      draw(list, elapsed, wait, null);
    });
    draw(report.experiments, report.durationMs, wait, report.limits);
    var rows = '';
    for (var k in report.limits) rows += '<tr><td>' + k + '</td><td>' + (report.limits[k] === null ? '<span class="ok">not reached up to ' + fmt(wait) + '</span>' : '<b>' + fmt(report.limits[k]) + '</b>') + '</td></tr>';
    rows += '<tr><td>buffering</td><td>' + (report.buffering ? '<b>detected</b>' : 'none seen') + '</td></tr>';
    document.getElementById('limits').innerHTML = '<h2>Limits</h2><table>' + rows + '</table><h2>Timeline</h2>';
    status.textContent = 'done in ' + fmt(report.durationMs);
    window.probeReport = report;
    document.body.dataset.state = 'done';
  }
  document.getElementById('run').onclick = function () { run().catch(function (e) { document.getElementById('status').textContent = 'failed: ' + e.message; document.body.dataset.state = 'failed'; }); };
  if (params.get('autorun') === '1') document.getElementById('run').click();
})();
</script></body></html>
`;
}
