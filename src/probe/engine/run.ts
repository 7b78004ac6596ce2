import { setMaxListeners } from 'node:events';
import WebSocket from 'ws';
import { type ActiveAnswer, runActiveProbes } from './active.js';
import { discover, endpointUrl, warmPath } from './discover.js';
import { runHttp } from './http.js';
import {
  chattyHeartbeat,
  type ProbeOptions,
  probeDefaults,
  trainLength,
  type WsConstructor,
} from './options.js';
import { newRecord, round } from './record.js';
import { buildReport } from './report.js';
import type { ExperimentRecord, ProbeReport } from './types.js';
import { runWs } from './ws.js';

const fmt = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s` : `${Math.round(ms)} ms`;

/** The silence lengths of the marker ladder: geometric from max-wait / 16 up to max-wait. */
export function ladder(maxWaitMs: number, rungs: number): number[] {
  if (rungs <= 0) return [];
  const lo = maxWaitMs / 16;
  const ratio = rungs === 1 ? 1 : (maxWaitMs / lo) ** (1 / (rungs - 1));
  return Array.from({ length: rungs }, (_, i) => Math.round(lo * ratio ** i));
}

/**
 * Measures a path's limits by holding connections to a probe server through it, all at
 * once: the probe takes about as long as the longest limit it finds (or max-wait), not the
 * sum. See `docs/probe.md` for the method and the report.
 * @throws {OutlastError} `probe-unreachable`, `probe-unauthorized`, `not-a-probe-server`.
 */
export async function runProbe(url: string, options: ProbeOptions = {}): Promise<ProbeReport> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const now = options.now ?? (() => performance.now());
  const headers = { ...(options.headers ?? {}) };
  const token = options.token ?? probeDefaults.token;
  const WS = options.WebSocket ?? (WebSocket as unknown as WsConstructor);
  const transports = new Set(options.transports ?? probeDefaults.transports);
  const emit = options.onProgress ?? (() => {});
  const target = await discover(url, token, fetchFn, headers);
  const tokenQ = token ?? new URL(url).searchParams.get('token');
  const rttMs = await warmPath(target.base, tokenQ, fetchFn, headers, now);
  const tokenUsed = tokenQ;
  const notes: string[] = [];
  let maxWaitMs = options.maxWaitMs ?? probeDefaults.maxWaitMs;
  // The server must hold a little longer than the client waits, so "alive at max-wait" is seen.
  const margin = Math.max(200, maxWaitMs * 0.05);
  if (maxWaitMs + margin > target.maxHoldMs) {
    maxWaitMs = Math.max(1000, target.maxHoldMs - margin);
    notes.push(
      `max-wait lowered to ${fmt(maxWaitMs)}: the probe server holds at most ${fmt(target.maxHoldMs)}`,
    );
  }
  const hold = Math.round(maxWaitMs + margin);
  const hb = chattyHeartbeat(maxWaitMs, options.heartbeatMs ?? null);
  const trainMs = trainLength(maxWaitMs, options.trainMs ?? null);
  const trainEvents = options.trainEvents ?? probeDefaults.trainEvents;
  const trainInterval = Math.max(1, Math.round(trainMs / trainEvents));
  const eventBytes = options.trainEventBytes ?? probeDefaults.trainEventBytes;
  const wsBase = target.base.replace(/^http/, 'ws');
  const controller = new AbortController();
  // Every experiment listens on this one signal.
  setMaxListeners(0, controller.signal);
  const stop = (): void => controller.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  // A signal aborted before this point fires no event: stop at once.
  if (options.signal?.aborted === true) stop();

  const started = now();
  const elapsed = (): number => now() - started;
  // A paused machine (a busy laptop, a GC, a swapped VM) delays every timer and every read:
  // cut times measured across a pause are late. Pauses are watched and reported.
  const pauses: Array<[number, number]> = [];
  let lastTick = now();
  const watch = setInterval(() => {
    const t = now();
    if (t - lastTick > 250) pauses.push([Math.round(lastTick - started), Math.round(t - lastTick)]);
    lastTick = t;
  }, 20);
  const records: ExperimentRecord[] = [];
  const runs: Array<Promise<unknown>> = [];
  const changed = (r: ExperimentRecord) => () => emit({ type: 'experiment', record: r });

  const http = (
    name: string,
    transport: ExperimentRecord['transport'],
    purpose: string,
    path: string,
    query: Record<string, string | number>,
    extra: {
      parse?: 'train' | 'marker';
      giveUpMs?: number;
      giveUpAfterHeadersMs?: number;
      headers?: Record<string, string>;
      expectEnd?: boolean;
    } = {},
  ): Promise<ExperimentRecord> => {
    const record = newRecord(name, transport, purpose, round(elapsed()));
    records.push(record);
    emit({ type: 'experiment', record });
    const p = runHttp({
      record,
      url: endpointUrl(target.base, path, query, tokenUsed),
      headers: { ...headers, ...extra.headers },
      fetch: fetchFn,
      now,
      giveUpMs: extra.giveUpMs ?? maxWaitMs - elapsed(),
      ...(extra.parse === undefined ? {} : { parse: extra.parse }),
      ...(extra.expectEnd === undefined ? {} : { expectEnd: extra.expectEnd }),
      ...(extra.giveUpAfterHeadersMs === undefined
        ? {}
        : { giveUpAfterHeadersMs: extra.giveUpAfterHeadersMs }),
      onChange: changed(record),
      signal: controller.signal,
    });
    runs.push(p);
    return p;
  };
  const ws = (
    name: string,
    purpose: string,
    query: Record<string, string | number>,
  ): Promise<ExperimentRecord> => {
    const record = newRecord(name, 'websocket', purpose, round(elapsed()));
    records.push(record);
    emit({ type: 'experiment', record });
    const p = runWs({
      record,
      url: endpointUrl(wsBase, 'ws', query, tokenUsed),
      headers,
      WebSocket: WS,
      now,
      giveUpMs: maxWaitMs - elapsed(),
      onChange: changed(record),
      signal: controller.signal,
    });
    runs.push(p);
    return p;
  };
  const marker = (after: number): Promise<ExperimentRecord> => {
    const grace = Math.max(250, after * 0.1);
    const p = http(
      `marker-${after}`,
      'sse',
      `silent ${fmt(after)}, then a marker: lost means a silent drop`,
      'marker',
      { after, ms: after },
      {
        parse: 'marker',
        giveUpMs: maxWaitMs - elapsed(),
        giveUpAfterHeadersMs: after + grace,
      },
    );
    return p.then((r) => {
      r.markerDueMs = after;
      if (r.markerArrived === true || r.headersAtMs === null || r.endedAtMs === null) return r;
      const silentFor = r.endedAtMs - r.headersAtMs;
      if (r.outcome === 'not-reached' && silentFor >= after + grace - 1) {
        r.outcome = 'cut';
        r.symptom = 'marker-lost';
      } else if (
        r.outcome === 'cut' &&
        Math.abs(silentFor - after) <= Math.max(60, after * 0.03) &&
        r.symptom !== 'status-before-headers'
      ) {
        r.symptom = 'cut-on-write';
      }
      return r;
    });
  };

  const sse = transports.has('sse');
  const wsOn = transports.has('websocket');
  // Resolves once these records have their headers (or ended), or after a second.
  const headersIn = async (names: string[]): Promise<void> => {
    const deadline = now() + 1000;
    while (now() < deadline) {
      const waiting = records.some(
        (r) => names.includes(r.name) && r.headersAtMs === null && r.outcome === 'running',
      );
      if (!waiting) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  // Opened in three waves, not one burst: a burst of connections through a busy path delays
  // each request on its way to the hop that starts a clock, and that delay is error. The
  // clock experiments go first, each on a quiet path.
  const launch = async (): Promise<void> => {
    if (sse || transports.has('long-poll')) {
      http('first-byte', 'http', 'no headers until max-wait: the first-byte limit', 'hold', {
        ms: hold,
      });
    }
    if (sse) {
      http(
        'sse-total',
        'sse',
        `a comment every ${fmt(hb)}: a total clock cuts it anyway`,
        'chatty',
        {
          ms: hold,
          heartbeat: hb,
        },
        { expectEnd: true },
      );
    }
    if (wsOn) {
      ws('ws-total', `WebSocket: a frame every ${fmt(hb)}: a total clock cuts it anyway`, {
        mode: 'chatty',
        ms: hold,
        heartbeat: hb,
      });
    }
    await headersIn(['sse-total', 'ws-total']);
    if (sse) {
      http(
        'sse-idle',
        'sse',
        'headers, then silence: the idle clock',
        'silence',
        { ms: hold },
        { expectEnd: true },
      );
    }
    if (wsOn) {
      ws('ws-idle', 'WebSocket: an open frame, then silence: the idle clock', {
        mode: 'silence',
        ms: hold,
      });
    }
    await headersIn(['sse-idle', 'ws-idle']);
    if (sse) {
      const trainQuery = { interval: trainInterval, count: trainEvents, size: eventBytes };
      const trainGiveUp = Math.min(maxWaitMs, trainMs * 3 + 2000);
      const enc = { 'accept-encoding': 'gzip, deflate' };
      http(
        'train',
        'sse',
        `${trainEvents} timestamped events, plain headers: buffering?`,
        'train',
        trainQuery,
        {
          parse: 'train',
          giveUpMs: trainGiveUp,
          headers: enc,
        },
      );
      http(
        'train-anti-buffering',
        'sse',
        'the same train with X-Accel-Buffering: no and no-transform',
        'train',
        { ...trainQuery, anti: 1 },
        {
          parse: 'train',
          giveUpMs: trainGiveUp,
          headers: enc,
        },
      );
      // The top rung's marker (plus its grace) must still fit in max-wait.
      const top = (maxWaitMs - elapsed() - 250) / 1.1;
      const rungs = ladder(top, options.ladderRungs ?? probeDefaults.ladderRungs).filter(
        (x) => x >= 100,
      );
      const refineRungs = options.refineRungs ?? probeDefaults.refineRungs;
      let refined = false;
      let bestArrived = 0;
      for (const after of rungs) {
        marker(after).then((r) => {
          if (r.markerArrived === true) bestArrived = Math.max(bestArrived, after);
          // A marker lost with no active cut to explain it: refine inside the bracket while
          // max-wait allows (this is the one case where the probe runs past the limit it finds).
          const silentAlive = records.find((x) => x.name === 'sse-idle')?.outcome === 'running';
          if (refined || r.symptom !== 'marker-lost' || !silentAlive || refineRungs <= 0) return;
          refined = true;
          const lo = Math.max(bestArrived, rungs.filter((x) => x < after).pop() ?? 0);
          for (let i = 1; i <= refineRungs; i++) {
            const x = Math.round(lo + ((after - lo) * i) / (refineRungs + 1));
            if (elapsed() + x <= maxWaitMs) marker(x);
          }
        });
      }
    }
    if (transports.has('long-poll')) {
      // Answered at once: how long a poll may hold is the first-byte limit, measured above.
      http('long-poll', 'long-poll', 'a long-poll round trip', 'poll', { ms: 0 });
    }
  };
  await launch();
  // The active probes run beside the experiments: one short request each.
  const activeP: Promise<ActiveAnswer[]> =
    (options.activeProbes ?? probeDefaults.activeProbes)
      ? runActiveProbes(target.base, tokenUsed).catch(() => [])
      : Promise.resolve([]);
  const echoRecord = newRecord(
    'echo',
    'http',
    'the request headers the probe server received',
    round(elapsed()),
  );
  let echoRaw: Array<[string, string]> | null = null;
  const echoP = fetchFn(endpointUrl(target.base, 'echo', {}, tokenUsed), { headers })
    .then(
      (r) =>
        r.json() as Promise<{
          headers?: Array<[string, string]>;
          rawHeaders?: Array<[string, string]> | null;
        }>,
    )
    .then((j) => {
      echoRaw = Array.isArray(j.rawHeaders) ? j.rawHeaders : null;
      return j.headers ?? null;
    })
    .catch(() => null);
  emit({ type: 'start', target: target.base, maxWaitMs, experiments: records.map((r) => r.name) });

  // Wait for every experiment, including refinements started meanwhile.
  for (let seen = 0; seen < runs.length; ) {
    const batch = runs.slice(seen);
    seen = runs.length;
    await Promise.all(batch);
  }
  clearInterval(watch);
  const echo = await echoP;
  const active = await activeP;
  for (const [at, ms] of pauses.slice(0, 3)) {
    notes.push(
      `this machine paused for ${fmt(ms)} at ${fmt(at)}: limits measured across the pause may be off by as much; run the probe again`,
    );
  }
  echoRecord.outcome = echo === null ? 'failed' : 'completed';
  options.signal?.removeEventListener('abort', stop);
  const durationMs = Math.round(elapsed());
  // Stopped early: a limit not seen was waited for only this long, not max-wait.
  const interrupted = options.signal?.aborted === true;
  if (interrupted) {
    notes.unshift(
      `interrupted after ${fmt(durationMs)}: these are the limits found so far; "not reached" means not within those ${fmt(durationMs)}`,
    );
  }

  const report = buildReport({
    target: target.base,
    records,
    echo,
    echoRaw,
    notes,
    durationMs,
    maxWaitMs: interrupted ? Math.min(maxWaitMs, durationMs) : maxWaitMs,
    interrupted,
    rttMs,
    train: { intervalMs: trainInterval, eventBytes, trainMs },
    active,
  });
  for (const c of report.culprits)
    emit({ type: 'finding', text: `${c.limit} ${fmt(c.valueMs)}: ${c.name} (${c.basis})` });
  return report;
}
