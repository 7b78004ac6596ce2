import type { WsConstructor } from './options.js';
import { addBytes, flatHeaders, round, stamp } from './record.js';
import type { ExperimentRecord } from './types.js';

/** What one WebSocket experiment needs. */
export interface WsRun {
  record: ExperimentRecord;
  url: string;
  headers: Record<string, string>;
  WebSocket: WsConstructor;
  now: () => number;
  giveUpMs: number;
  onChange?: () => void;
  signal: AbortSignal;
}

/**
 * Runs one WebSocket experiment: the upgrade, every frame's arrival, and how it closed. A
 * close other than the server's own 1000 after its `end` frame is a cut. Never rejects.
 */
export function runWs(run: WsRun): Promise<ExperimentRecord> {
  const { record, now } = run;
  const opened = now();
  const at = (): number => round(now() - opened);
  return new Promise((resolve) => {
    let settled = false;
    let gaveUp = false;
    let sawEnd = false;
    const ws = new run.WebSocket(run.url, { headers: run.headers, perMessageDeflate: false });
    const finish = (outcome: ExperimentRecord['outcome']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal.removeEventListener('abort', onAbort);
      record.outcome = outcome;
      record.endedAtMs ??= at();
      run.onChange?.();
      resolve(record);
    };
    const giveUp = (): void => {
      gaveUp = true;
      record.endedAtMs = at();
      ws.terminate();
      finish('not-reached');
    };
    const timer = setTimeout(giveUp, Math.max(0, run.giveUpMs));
    const onAbort = (): void => giveUp();
    run.signal.addEventListener('abort', onAbort, { once: true });
    ws.on('upgrade', (res) => {
      record.headersAtMs = at();
      record.status = 101;
      record.responseHeaders = flatHeaders(res.headers);
      run.onChange?.();
    });
    ws.on('unexpected-response', (_req, res) => {
      record.headersAtMs = at();
      record.status = res.statusCode ?? null;
      record.responseHeaders = flatHeaders(res.headers);
      record.symptom = 'websocket-refused';
      let body = '';
      res.on('data', (c: Buffer) => {
        if (body.length < 2048) body += c.toString();
      });
      res.on('error', () => {});
      res.on('end', () => {
        record.errorBody = body.slice(0, 2048);
        record.endedAtMs = record.headersAtMs;
        finish('cut');
      });
    });
    ws.on('message', (data) => {
      const n = typeof data === 'string' ? data.length : (data.byteLength ?? data.length ?? 0);
      addBytes(record, at(), n + 2);
      try {
        const frame = JSON.parse(String(data)) as { type?: string; t?: number };
        if (frame.type === 'end') sawEnd = true;
        stamp(record, at(), Number(frame.t), frame.type === 'open');
      } catch {
        // Not a probe frame.
      }
    });
    ws.on('close', (code) => {
      if (gaveUp || settled) return;
      if (code === 1000 && sawEnd) {
        finish('completed');
        return;
      }
      record.symptom = 'websocket-closed';
      record.detail = `close ${code}`;
      finish('cut');
    });
    ws.on('error', (error) => {
      if (gaveUp || settled) return;
      if (record.headersAtMs === null) {
        record.symptom = 'close-before-headers';
        record.detail = error.code ?? error.message;
        finish('cut');
      }
      // After the upgrade the close event follows and decides.
    });
  });
}
