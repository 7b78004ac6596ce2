import { configTitles, renderConfig } from '../config/snippets.js';
import type { Limits } from './analyze.js';
import type { Identified } from './identify.js';
import type { ConfigSnippet, ProbeReport } from './types.js';

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
