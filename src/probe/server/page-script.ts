import type { TimelineExperiment } from '../report/timeline.js';

/** What the browser probe reports to the page for drawing. */
export interface BrowserExperiment extends TimelineExperiment {
  serverOpenAt?: number;
  minOffsetMs?: number;
}

/**
 * The probe as the browser runs it (the path real users have: browser, corporate proxy,
 * CDN): the first-byte hold, silent and chatty SSE streams over streaming `fetch`, silent and
 * chatty WebSockets, the two trains, a long-poll and the echo, all at once, read the same way
 * as the CLI reads them (server time stamps place the server's start on the browser's clock).
 *
 * Self-contained (no outer variables, type imports only): the page embeds this function's
 * source.
 */
export async function browserProbe(
  base: string,
  token: string | null,
  maxWaitMs: number,
  onUpdate: (experiments: BrowserExperiment[], elapsedMs: number) => void,
): Promise<{
  experiments: BrowserExperiment[];
  limits: Record<string, number | null>;
  durationMs: number;
  buffering: boolean;
}> {
  const q = (path: string, params: Record<string, string | number>): string => {
    const u = new URL(`${base}/${path}`, location.href);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    if (token !== null) u.searchParams.set('token', token);
    return u.href;
  };
  const hold = Math.round(maxWaitMs * 1.05 + 200);
  const hb = Math.round(Math.min(500, Math.max(5, maxWaitMs / 400)));
  const started = performance.now();
  const list: BrowserExperiment[] = [];
  const tick = (): void => onUpdate(list, performance.now() - started);
  // Warm the browser's connections (six per host) and every hop's, as the CLI does.
  for (let i = 0; i < 2; i++) {
    await Promise.all(Array.from({ length: 6 }, () => fetch(q('info', {})).then((r) => r.text())));
  }
  const t0 = performance.now();
  await fetch(q('info', {})).then((r) => r.text());
  const rtt = performance.now() - t0;
  const stampOf = (e: BrowserExperiment, at: number, t: number, open: boolean): void => {
    if (!Number.isFinite(t)) return;
    if (open && e.serverOpenAt === undefined) e.serverOpenAt = t;
    if (e.minOffsetMs === undefined || at - t < e.minOffsetMs) e.minOffsetMs = at - t;
  };
  // A new experiment on the timeline, and its clock (ms since it opened, 0.1 ms steps).
  const begin = (name: string): { e: BrowserExperiment; at: () => number } => {
    const e: BrowserExperiment = {
      name,
      openedAtMs: performance.now() - started,
      headersAtMs: null,
      endedAtMs: null,
      outcome: 'running',
      symptom: null,
      status: null,
      bytes: [],
    };
    list.push(e);
    const opened = performance.now();
    return { e, at: () => Math.round((performance.now() - opened) * 10) / 10 };
  };
  const http = async (name: string, url: string, giveUp: number): Promise<BrowserExperiment> => {
    const { e, at } = begin(name);
    const ctl = new AbortController();
    let gaveUp = false;
    const timer = setTimeout(() => {
      gaveUp = true;
      ctl.abort();
    }, giveUp);
    try {
      const res = await fetch(url, { signal: ctl.signal, cache: 'no-store' });
      e.headersAtMs = at();
      e.status = res.status;
      if (res.status !== 200) {
        e.outcome = 'cut';
        e.symptom = 'status-before-headers';
        e.endedAtMs = e.headersAtMs;
        return e;
      }
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        e.bytes.push([at(), value.byteLength]);
        text += dec.decode(value, { stream: true });
        const re = /(?:: (open|hb|end) (\d+)|"t":(\d+))/g;
        for (let m = re.exec(text); m !== null; m = re.exec(text)) {
          stampOf(e, at(), Number(m[2] ?? m[3]), m[1] === 'open');
        }
        text = text.slice(-64);
        tick();
      }
      e.outcome = 'completed';
    } catch {
      e.outcome = gaveUp ? 'not-reached' : 'cut';
      if (!gaveUp)
        e.symptom = e.headersAtMs === null ? 'close-before-headers' : 'close-after-headers';
    } finally {
      clearTimeout(timer);
      e.endedAtMs ??= at();
      tick();
    }
    return e;
  };
  const ws = (name: string, url: string): Promise<BrowserExperiment> =>
    new Promise((resolve) => {
      const { e, at } = begin(name);
      const sock = new WebSocket(url.replace(/^http/, 'ws'));
      let ended = false;
      let sawEnd = false;
      const finish = (outcome: string, symptom: string | null): void => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        e.outcome = outcome;
        e.symptom = symptom;
        e.endedAtMs = at();
        tick();
        resolve(e);
      };
      const timer = setTimeout(() => {
        finish('not-reached', null);
        sock.close();
      }, maxWaitMs);
      sock.onopen = () => {
        e.headersAtMs = at();
        e.status = 101;
        tick();
      };
      sock.onmessage = (m) => {
        e.bytes.push([at(), String(m.data).length]);
        try {
          const f = JSON.parse(String(m.data)) as { type?: string; t?: number };
          if (f.type === 'end') sawEnd = true;
          stampOf(e, at(), Number(f.t), f.type === 'open');
        } catch {
          // not a probe frame
        }
        tick();
      };
      sock.onclose = (c) => {
        if (c.code === 1000 && sawEnd) finish('completed', null);
        else finish('cut', e.headersAtMs === null ? 'websocket-refused' : 'websocket-closed');
      };
    });
  const train = Math.round(Math.min(2000, Math.max(600, maxWaitMs / 10)));
  const runs = [
    http('first-byte', q('hold', { ms: hold }), maxWaitMs),
    http('sse-idle', q('silence', { ms: hold }), maxWaitMs),
    http('sse-total', q('chatty', { ms: hold, heartbeat: hb }), maxWaitMs),
    http(
      'train',
      q('train', { interval: Math.round(train / 40), count: 40, size: 256 }),
      Math.min(maxWaitMs, train * 3 + 2000),
    ),
    http(
      'train-anti-buffering',
      q('train', { interval: Math.round(train / 40), count: 40, size: 256, anti: 1 }),
      Math.min(maxWaitMs, train * 3 + 2000),
    ),
    ws('ws-idle', q('ws', { mode: 'silence', ms: hold })),
    ws('ws-total', q('ws', { mode: 'chatty', ms: hold, heartbeat: hb })),
    http('long-poll', q('poll', { ms: 0 }), maxWaitMs),
  ];
  await Promise.all(runs);
  const by = (n: string): BrowserExperiment | undefined => list.find((x) => x.name === n);
  const cut = (e: BrowserExperiment | undefined, kind: string): number | null => {
    if (
      e === undefined ||
      e.outcome !== 'cut' ||
      e.endedAtMs === null ||
      e.symptom === 'websocket-refused'
    )
      return null;
    if (e.symptom === 'status-before-headers' || e.headersAtMs === null)
      return Math.max(0, (e.headersAtMs ?? e.endedAtMs) - rtt);
    if (e.serverOpenAt !== undefined && e.minOffsetMs !== undefined) {
      const s = Math.min(e.headersAtMs, Math.max(0, e.serverOpenAt + e.minOffsetMs));
      return Math.round(e.endedAtMs - (kind === 'idle' ? s : s / 2));
    }
    return Math.round(e.endedAtMs - e.headersAtMs / 2);
  };
  const pair = (silent: string, chatty: string): [number | null, number | null] => {
    const s = cut(by(silent), 'idle');
    const sT = cut(by(silent), 'total');
    const c = cut(by(chatty), 'total');
    if (c === null) return [s, null];
    const same = sT !== null && Math.abs(sT - c) <= Math.max(100, 0.08 * Math.max(sT, c));
    return [s !== null && !same && s < c ? s : null, c];
  };
  const [sseIdle, sseTotal] = pair('sse-idle', 'sse-total');
  const [wsIdle, wsTotal] = pair('ws-idle', 'ws-total');
  const tr = by('train');
  let buffering = false;
  if (tr !== undefined && tr.bytes.length > 0) {
    const first = tr.bytes[0]![0];
    const last = tr.bytes[tr.bytes.length - 1]![0];
    buffering = tr.bytes.length <= 3 && last - first < train / 4;
  }
  return {
    experiments: list,
    limits: {
      'SSE first byte': cut(by('first-byte'), 'fb'),
      'SSE idle': sseIdle,
      'SSE total': sseTotal,
      'WebSocket idle': wsIdle,
      'WebSocket total': wsTotal,
    },
    durationMs: Math.round(performance.now() - started),
    buffering,
  };
}
