import { configTitles, renderConfig } from '../config/snippets.js';
import type { Limits } from './analyze.js';
import { type Identified, identify } from './identify.js';
import type { ConfigSnippet, ExperimentRecord, ProbeReport } from './types.js';

type Culprit = ProbeReport['culprits'][number];

const fmt = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s` : `${Math.round(ms)} ms`;

/** Picks who most likely runs a clock of this kind: the one whose default fires first. */
function byKind(
  found: readonly Identified[],
  kind: 'idle' | 'total' | 'firstByte',
): Identified | null {
  let best: Identified | null = null;
  let bestMs = Number.POSITIVE_INFINITY;
  for (const f of found) {
    const ms = f.known?.clocks[kind];
    if (ms !== undefined && ms < bestMs) {
      best = f;
      bestMs = ms;
    }
  }
  return best;
}

/**
 * Names the intermediary behind each limit. An error page answered before the headers names
 * its sender outright; Envoy announces its own total clock to the backend
 * (`x-envoy-expected-rq-timeout-ms`); otherwise the clock's kind decides (only Envoy, API
 * Gateway, GCP and Azure have total clocks that cut busy streams), and among several of a
 * kind, the one whose default fires first.
 */
export function blame(
  limits: Limits,
  records: readonly ExperimentRecord[],
  found: readonly Identified[],
  echo: Array<[string, string]> | null,
): Culprit[] {
  const out: Culprit[] = [];
  const envoyTimeout = Number(echo?.find(([n]) => n === 'x-envoy-expected-rq-timeout-ms')?.[1]);
  const fb = records.find((r) => r.name === 'first-byte');
  const add = (
    limit: string,
    valueMs: number | null,
    kind: 'idle' | 'total' | 'firstByte',
  ): void => {
    if (valueMs === null) return;
    if (
      kind === 'total' &&
      Number.isFinite(envoyTimeout) &&
      Math.abs(envoyTimeout - valueMs) <= Math.max(100, valueMs * 0.05)
    ) {
      out.push({
        limit,
        valueMs,
        name: found.find((f) => f.known?.id === 'envoy')?.name ?? 'Envoy',
        reason: `the backend received x-envoy-expected-rq-timeout-ms: ${envoyTimeout}, the clock that cut at ${fmt(valueMs)}`,
      });
      return;
    }
    if (kind === 'firstByte' && fb?.symptom === 'status-before-headers') {
      const sender = identify([fb], null).filter((f) => f.known !== null);
      const named =
        sender.find((s) =>
          s.evidence.some((e) => e.includes('error page') || e.startsWith('status')),
        ) ?? sender[0];
      if (named !== undefined) {
        out.push({
          limit,
          valueMs,
          name: named.name,
          reason: `it answered ${fb.status} itself: ${named.evidence.join('; ')}`,
        });
        return;
      }
    }
    const who =
      byKind(found, kind) ??
      (kind === 'firstByte' ? (byKind(found, 'total') ?? byKind(found, 'idle')) : null);
    out.push({
      limit,
      valueMs,
      name: who?.name ?? 'an unidentified hop',
      reason:
        who === null
          ? 'no intermediary on the path announced itself; probe each layer (outlast probe URL1 URL2 ...) to find the hop'
          : `of the intermediaries found, ${who.name} has ${kind === 'firstByte' ? 'a first-byte' : kind === 'idle' ? 'an idle' : 'a total'} clock that fires first (default ${fmt(who.known!.clocks[kind] ?? who.known!.clocks.total ?? who.known!.clocks.idle ?? 0)})`,
    });
  };
  add('sse.firstByteMs', limits.sse.firstByteMs, 'firstByte');
  add('sse.idleMs', limits.sse.idleMs, 'idle');
  add('sse.totalMs', limits.sse.totalMs, 'total');
  add('websocket.idleMs', limits.websocket.idleMs, 'idle');
  add('websocket.totalMs', limits.websocket.totalMs, 'total');
  return out;
}

/** Rounds a heartbeat down: whole seconds from 2 s, tenths from 200 ms, else whole ms. */
function roundDown(ms: number): number {
  const step = ms >= 2000 ? 1000 : ms >= 200 ? 100 : 1;
  return Math.max(1, Math.floor(ms / step) * step);
}

/** What the report recommends: transport, heartbeat, stream length and config snippets. */
export function recommend(
  limits: Limits,
  buffering: ProbeReport['buffering'],
  transports: ProbeReport['transports'],
  found: readonly Identified[],
): ProbeReport['recommendation'] {
  const sseBuffered = buffering.detected && buffering.fixedByHeaders !== true;
  const sseTotal = limits.sse.totalMs;
  const wsTotal = limits.websocket.totalMs;
  const wsBetter =
    transports.websocket.works &&
    (wsTotal === null || (sseTotal !== null && wsTotal > 2 * sseTotal));
  let transport: ProbeReport['recommendation']['transport'] = 'sse';
  if ((sseTotal !== null || sseBuffered) && wsBetter) transport = 'websocket';
  else if (sseBuffered && transports.longPoll.works) transport = 'long-poll';
  const idles =
    transport === 'websocket'
      ? [limits.websocket.idleMs]
      : transport === 'sse'
        ? [limits.sse.idleMs]
        : [limits.sse.firstByteMs];
  const shortest = Math.min(
    ...idles.filter((v): v is number => v !== null),
    Number.POSITIVE_INFINITY,
  );
  // At most half the shortest idle clock (the facts table's rule), never above the server's
  // 15 s default.
  // 15 s default; rounded down to a figure a person would type (whole seconds from 2 s, else
  // tenths), so the advice, the config snippets and the server option all read the same number.
  const heartbeatMs = Number.isFinite(shortest)
    ? roundDown(Math.max(1, Math.min(15_000, shortest / 2)))
    : 15_000;
  const total = transport === 'websocket' ? wsTotal : transport === 'sse' ? sseTotal : null;
  const maxStreamMs = total === null ? null : Math.floor(total * 0.8);
  const serverConfig: ConfigSnippet[] = [];
  const targets = new Set<string>();
  for (const f of found) if (f.known?.config) targets.add(f.known.config);
  targets.add('node');
  targets.add('uvicorn');
  for (const t of targets) {
    serverConfig.push({
      for: t,
      title: configTitles[t as keyof typeof configTitles],
      snippet: renderConfig(t, { heartbeatMs }),
    });
  }
  return { transport, heartbeatMs, maxStreamMs, serverConfig };
}
