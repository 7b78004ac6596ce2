/** One experiment's connection, as the timeline draws it (ms since the probe started). */
export interface TimelineExperiment {
  name: string;
  openedAtMs: number;
  headersAtMs: number | null;
  endedAtMs: number | null;
  outcome: string;
  symptom: string | null;
  status: number | null;
  /** Arrivals: [ms since the connection opened, bytes]. */
  bytes: Array<[number, number]>;
}

/** What the timeline draws: the experiments and the limits found. */
export interface TimelineData {
  experiments: TimelineExperiment[];
  /** Vertical lines: where a limit fell, ms since the probe started, and its value. */
  limits: Array<{ label: string; ms: number; value?: number }>;
  /** Right edge of the chart, ms. */
  maxMs: number;
}

/**
 * Draws every experiment's connection as one row of an SVG timeline: waiting for headers
 * (grey), streaming (blue), each arrival of bytes (ticks), and how it ended (a red cross
 * labelled with the cause, a green dot when it completed, an arrow when it was still alive
 * at max-wait), with the limits found as dashed lines.
 *
 * Self-contained on purpose (no imports, no outer variables): the probe server's browser
 * page embeds this very function's source, so the page and the HTML report draw the same
 * chart.
 */
export function renderTimeline(data: TimelineData): string {
  const esc = (s: string): string =>
    s.replace(
      /[&<>"]/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c,
    );
  const fmt = (ms: number): string =>
    ms < 1000
      ? `${Math.round(ms)} ms`
      : ms < 60000
        ? `${+(ms / 1000).toFixed(2)} s`
        : `${+(ms / 60000).toFixed(1)} min`;
  const short: Record<string, string> = {
    'status-before-headers': 'status',
    'close-before-headers': 'closed before headers',
    'close-after-headers': 'FIN mid-stream',
    'reset-after-headers': 'RST mid-stream',
    'cut-on-write': 'died on write',
    'marker-lost': 'marker lost',
    'websocket-closed': 'WS closed',
    'websocket-refused': 'WS refused',
  };
  const rows = data.experiments;
  const left = 170;
  const right = 150;
  const width = 1000;
  const rowH = 22;
  const top = 34;
  const plotW = width - left - right;
  const height = top + rows.length * rowH + 40;
  const maxMs = Math.max(1, data.maxMs);
  const x = (ms: number): number => left + (Math.min(ms, maxMs) / maxMs) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="11" role="img" aria-label="probe timeline">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  const step =
    [
      10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000,
      600000,
    ].find((s) => maxMs / s <= 10) ?? 600000;
  for (let t = 0; t <= maxMs; t += step) {
    out.push(`<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${height - 30}" stroke="#eee"/>`);
    out.push(
      `<text x="${x(t)}" y="${height - 16}" text-anchor="middle" fill="#666">${fmt(t)}</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const open = r.openedAtMs;
    const head = r.headersAtMs === null ? null : open + r.headersAtMs;
    const end = r.endedAtMs === null ? maxMs : open + r.endedAtMs;
    out.push(
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end" fill="#222">${esc(r.name)}</text>`,
    );
    const waitEnd = head ?? end;
    out.push(
      `<line x1="${x(open)}" y1="${y}" x2="${x(waitEnd)}" y2="${y}" stroke="#bbb" stroke-width="3"><title>${esc(`${r.name}: waiting for headers ${fmt(waitEnd - open)}`)}</title></line>`,
    );
    if (head !== null && r.status !== null && (r.status === 200 || r.status === 101)) {
      out.push(
        `<line x1="${x(head)}" y1="${y}" x2="${x(end)}" y2="${y}" stroke="#4a7bd0" stroke-width="6"><title>${esc(`${r.name}: open ${fmt(end - head)} after the headers`)}</title></line>`,
      );
    }
    for (const [t, n] of r.bytes.slice(0, 400)) {
      out.push(
        `<line x1="${x(open + t)}" y1="${y - 7}" x2="${x(open + t)}" y2="${y + 7}" stroke="#1d3f7a" stroke-width="1"><title>${n} bytes at ${fmt(open + t)}</title></line>`,
      );
    }
    const ex = x(end);
    if (r.outcome === 'cut') {
      out.push(
        `<path d="M${ex - 5},${y - 5} L${ex + 5},${y + 5} M${ex - 5},${y + 5} L${ex + 5},${y - 5}" stroke="#d02b2b" stroke-width="2.5"/>`,
      );
      const label = `${short[r.symptom ?? ''] ?? r.symptom ?? 'cut'}${r.status !== null && r.status !== 200 && r.status !== 101 ? ` ${r.status}` : ''} at ${fmt(end)}`;
      out.push(
        `<text x="${Math.min(ex + 9, width - right + 4)}" y="${y + 4}" fill="#d02b2b">${esc(label)}</text>`,
      );
    } else if (r.outcome === 'completed') {
      out.push(`<circle cx="${ex}" cy="${y}" r="4" fill="#2a9d4b"/>`);
    } else if (r.outcome === 'not-reached') {
      out.push(
        `<path d="M${ex - 6},${y - 5} L${ex},${y} L${ex - 6},${y + 5}" fill="none" stroke="#2a9d4b" stroke-width="2"/>`,
      );
      out.push(`<text x="${ex + 6}" y="${y + 4}" fill="#2a9d4b">alive at max-wait</text>`);
    }
  });
  data.limits.forEach((l, i) => {
    const lx = x(l.ms);
    out.push(
      `<line x1="${lx}" y1="${top - 10}" x2="${lx}" y2="${height - 30}" stroke="#d02b2b" stroke-dasharray="4 3" opacity="0.7"/>`,
    );
    out.push(
      `<text x="${lx + 3}" y="${12 + (i % 2) * 11}" fill="#d02b2b">${esc(`${l.label} ${fmt(l.value ?? l.ms)}`)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('');
}
