import { createParser } from '../../wire/parser.js';
import { addBytes, flatHeaders, round, stamp } from './record.js';
import type { ExperimentRecord } from './types.js';

/** What one HTTP experiment needs. */
export interface HttpRun {
  record: ExperimentRecord;
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  now: () => number;
  /** Give up (outcome `not-reached`) this long after opening. */
  giveUpMs: number;
  /** Once the headers are in, give up this long after them instead (marker streams). */
  giveUpAfterHeadersMs?: number;
  /**
   * The server ends this stream with an `: end` stamp: a body that ends cleanly without it
   * was ended by a hop (a proxy that closes its client side cleanly when its upstream is
   * cut, as Caddy does), and is a cut.
   */
  expectEnd?: boolean;
  /** Parse the body as SSE and keep train events / the marker. */
  parse?: 'train' | 'marker';
  /** Called when the record changes state (headers, end). */
  onChange?: () => void;
  signal: AbortSignal;
}

/** Names a network error the way the timeline shows it (`ECONNRESET`, `other side closed`). */
function errorDetail(error: unknown): { reset: boolean; detail: string } {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code;
  const reset = code === 'ECONNRESET' || /reset/i.test(String(cause?.message ?? ''));
  return { reset, detail: code ?? cause?.message ?? (error as Error).message ?? String(error) };
}

/**
 * Runs one HTTP experiment: opens the request, notes when the headers and every byte arrive,
 * and how it ended. Never throws; everything goes into the record.
 */
export async function runHttp(run: HttpRun): Promise<ExperimentRecord> {
  const { record, now } = run;
  const opened = now();
  const at = (): number => round(now() - opened);
  const controller = new AbortController();
  let gaveUp = false;
  const giveUp = (): void => {
    gaveUp = true;
    controller.abort();
  };
  let timer = setTimeout(giveUp, Math.max(0, run.giveUpMs));
  const onAbort = (): void => giveUp();
  run.signal.addEventListener('abort', onAbort, { once: true });
  const end = (outcome: ExperimentRecord['outcome']): void => {
    record.outcome = outcome;
    record.endedAtMs = at();
  };
  try {
    let response: Response;
    try {
      response = await run.fetch(run.url, {
        headers: run.headers,
        signal: controller.signal,
        cache: 'no-store',
      });
    } catch (error) {
      if (gaveUp) end('not-reached');
      else {
        const { detail } = errorDetail(error);
        record.symptom = 'close-before-headers';
        record.detail = detail;
        end('cut');
      }
      return record;
    }
    record.headersAtMs = at();
    record.status = response.status;
    if (run.giveUpAfterHeadersMs !== undefined) {
      clearTimeout(timer);
      timer = setTimeout(giveUp, run.giveUpAfterHeadersMs);
    }
    record.responseHeaders = flatHeaders(response.headers);
    run.onChange?.();
    if (response.status !== 200) {
      const text = await response.text().catch(() => '');
      record.errorBody = text.slice(0, 2048);
      record.symptom = 'status-before-headers';
      end('cut');
      // A refusal of the probe itself is not a limit; the caller decides.
      record.endedAtMs = record.headersAtMs;
      return record;
    }
    if (response.body === null) {
      end('completed');
      return record;
    }
    const train: NonNullable<ExperimentRecord['train']> = [];
    let sawEnd = false;
    // Every probe stream carries server time stamps: `: open T`, `: hb T`, train events.
    const parser = createParser({
      onComment: (text) => {
        const m = /^\s*(open|hb|end) (\d+)/.exec(text);
        if (m !== null) stamp(record, at(), Number(m[2]), m[1] === 'open');
        if (m?.[1] === 'end') sawEnd = true;
      },
      onEvent: (event) => {
        if (event.type === 'marker') {
          record.markerArrived = true;
          stamp(record, at(), Number(event.data), false);
        } else if (run.parse === 'train') {
          try {
            const d = JSON.parse(event.data) as { seq: number; t: number };
            stamp(record, at(), d.t, false);
            train.push({
              seq: d.seq,
              sentAtMs: d.t,
              arrivedAtMs: at(),
              bytes: event.data.length + `id: ${d.seq}\n`.length + 8,
            });
          } catch {
            // Not a train event: ignored.
          }
        }
      },
    });
    if (run.parse === 'train') record.train = train;
    if (run.parse === 'marker') record.markerArrived = false;
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        addBytes(record, at(), value.byteLength);
        parser.feed(value);
      }
      if (run.expectEnd === true && !sawEnd) {
        record.symptom = 'close-after-headers';
        record.detail = "ended cleanly before the server's end stamp";
        end('cut');
      } else end('completed');
    } catch (error) {
      if (gaveUp) end('not-reached');
      else {
        const { reset, detail } = errorDetail(error);
        record.symptom = reset ? 'reset-after-headers' : 'close-after-headers';
        record.detail = detail;
        end('cut');
      }
    }
    return record;
  } finally {
    clearTimeout(timer);
    run.signal.removeEventListener('abort', onAbort);
    run.onChange?.();
  }
}
