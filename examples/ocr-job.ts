/**
 * The job of the Service Connect incident: OCR of a long PDF, about 45 s, page by page. Shared by the three
 * example servers. `OCR_DURATION_MS` scales it (the tests run it in a fraction of a second).
 */
import type { Server } from 'node:http';
import type { JobContext, Outlast, ServerOptions } from '../src/server/index.js';

/** Input of the `ocr` job: `POST /outlast/jobs/ocr` with `{"document":"scan.pdf","pages":9}`. */
export interface OcrInput {
  document?: string;
  pages?: number;
}

const durationMs = Number(process.env.OCR_DURATION_MS ?? 45_000);

/** Pretends to read each page, publishing progress after each one; honours cancellation. */
export async function ocr(
  ctx: JobContext<OcrInput>,
): Promise<{ document: string; pages: number; text: string }> {
  const pages = Math.max(1, Math.min(Number(ctx.input?.pages ?? 9), 1000));
  const document = String(ctx.input?.document ?? 'document.pdf');
  const lines: string[] = [];
  for (let page = 1; page <= pages; page++) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, durationMs / pages);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    });
    lines.push(`text of page ${page}`);
    await ctx.progress({ page, pages, done: page / pages });
  }
  return { document, pages, text: lines.join('\n') };
}

/** Server options every example uses: the job, and rotation below Service Connect's 15 s. */
export const exampleOptions: ServerOptions = {
  jobs: { ocr },
  // ECS Service Connect cuts any HTTP response at 15 s: rotate SSE at 12 s.
  maxStreamMs: Number(process.env.MAX_STREAM_MS ?? 12_000),
};

/** `PORT` (default 3000; 0 picks a free one) and `HOST` (default 127.0.0.1). */
export const listenOn = {
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
};

/**
 * Deploys: on SIGTERM (what Kubernetes, ECS and systemd send first) the server drains
 * (readers are told to reconnect, to another instance; running jobs get `DRAIN_MS`, default
 * 20 s, to finish), then closes. SIGINT (Ctrl-C) closes at once. `after` closes the rest
 * (a store).
 */
export function stopOnSignals(outlast: Outlast, server: Server, after?: () => Promise<void>) {
  const stop = async (drain: boolean) => {
    if (drain) {
      const report = await outlast.drain({ deadlineMs: Number(process.env.DRAIN_MS ?? 20_000) });
      console.log(`drained: ${JSON.stringify(report)}`);
    }
    await outlast.close();
    server.close();
    server.closeAllConnections();
    await after?.();
  };
  process.once('SIGTERM', () => void stop(true));
  process.once('SIGINT', () => void stop(false));
}
