import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProbeHandler } from '../probe/index.js';
import {
  attachWebSocket,
  createOutlast,
  hardenServer,
  type JobContext,
  type Outlast,
} from '../server/index.js';

/** The demo's backend: an outlast server running the Service Connect incident's OCR job, plus the probe endpoints. */
export interface DemoApp {
  origin: string;
  outlast: Outlast;
  close(): Promise<void>;
}

/** Pages of the demo's OCR job. */
export const DEMO_PAGES = 9;

/**
 * Starts the backend of the Service Connect incident at a time scale: `POST /outlast/jobs/ocr` runs a 45 s (scaled)
 * OCR job publishing one progress event per page; the probe endpoints sit beside it on the
 * same server, so the probe crosses exactly the path the job's clients cross.
 */
export async function startDemoApp(scale: number): Promise<DemoApp> {
  const jobMs = 45_000 * scale;
  const ocr = async (ctx: JobContext<{ document?: string; pages?: number }>) => {
    const pages = DEMO_PAGES;
    for (let page = 1; page <= pages; page++) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, jobMs / pages);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(ctx.signal.reason);
        });
      });
      await ctx.progress({ page, pages });
    }
    return { document: String(ctx.input?.document ?? 'scan.pdf'), pages };
  };
  const outlast = createOutlast({
    jobs: { ocr },
    // The server's defaults, scaled like the path: 15 s heartbeat, 1 s retry hint.
    heartbeatMs: Math.round(15_000 * scale),
    minHeartbeatMs: 10,
    minMaxStreamMs: 10,
    heartbeatTickMs: 10,
    retryMs: Math.round(1_000 * scale),
    onError: () => {},
  });
  const probe = createProbeHandler();
  const server: Server = hardenServer(
    createServer((req, res) => probe.handleNode(req, res, () => outlast.handleNode(req, res))),
  );
  attachWebSocket(outlast, server);
  probe.attachWebSocket(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    outlast,
    async close() {
      await outlast.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * What most code does with SSE: POST the job, read its stream once with `fetch`, no resume.
 * Resolves with how many progress events came, whether the result came, and how it ended.
 */
export async function plainSseClient(
  base: string,
): Promise<{ progress: number; result: boolean; endedAtMs: number; how: string }> {
  const t0 = performance.now();
  const start = await fetch(`${base}/outlast/jobs/ocr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ document: 'scan.pdf' }),
  });
  const { stream } = (await start.json()) as { stream: string };
  const url = new URL(stream, base);
  url.searchParams.set('transport', 'sse');
  let progress = 0;
  let result = false;
  let how = 'the stream ended';
  try {
    const response = await fetch(url);
    if (response.status !== 200) {
      how = `HTTP ${response.status} before any event`;
    } else {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of response.body!) {
        text += decoder.decode(chunk, { stream: true });
        const blocks = text.split('\n\n');
        text = blocks.pop() ?? '';
        for (const block of blocks) {
          if (/^event: progress$/m.test(block)) progress++;
          if (/^event: outlast\.result$/m.test(block)) result = true;
        }
      }
    }
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    how = `the connection was closed mid-stream (${cause?.code ?? (error as Error).message})`;
  }
  return { progress, result, endedAtMs: performance.now() - t0, how };
}
