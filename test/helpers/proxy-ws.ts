import WebSocket from 'ws';

/** What a WebSocket client saw through a proxy. */
export interface WsOutcome {
  /** Status of a refused upgrade, or 101. */
  status: number;
  /** Messages received. */
  messages: number;
  /** When the connection closed (ms after start), or null if it was still open at `holdMs`. */
  closedAt: number | null;
}

/**
 * Opens `url` (http:// is turned into ws://) on the upstream helper's `/ws` endpoint, keeps it
 * up to `holdMs`, and reports what happened. `every` is the upstream's tick interval (0: silent).
 */
export function wsOutcome(url: string, every: number, holdMs: number): Promise<WsOutcome> {
  const start = performance.now();
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws?every=${every}`);
    const out: WsOutcome = { status: 0, messages: 0, closedAt: null };
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(out);
    };
    const timer = setTimeout(done, holdMs);
    ws.on('upgrade', () => {
      out.status = 101;
    });
    ws.on('message', () => {
      out.messages++;
    });
    ws.on('unexpected-response', (_req, res) => {
      out.status = res.statusCode ?? 0;
      out.closedAt = performance.now() - start;
      res.resume();
      done();
    });
    ws.on('close', () => {
      if (!settled) out.closedAt = performance.now() - start;
      done();
    });
    ws.on('error', () => {
      if (!settled && out.closedAt === null) out.closedAt = performance.now() - start;
      done();
    });
  });
}
