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
  /**
   * When each page's progress event was published (`performance.now()`), per run: the
   * `run` field of the job's input (`plain`, `outlast`). Lateness is measured against it.
   */
  published: Map<string, number[]>;
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
  const published = new Map<string, number[]>();
  const ocr = async (ctx: JobContext<{ document?: string; pages?: number; run?: string }>) => {
    const pages = DEMO_PAGES;
    const times: number[] = [];
    published.set(String(ctx.input?.run ?? ctx.id), times);
    for (let page = 1; page <= pages; page++) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, jobMs / pages);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(ctx.signal.reason);
        });
      });
      await ctx.progress({ page, pages });
      times.push(performance.now());
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
    published,
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
export async function plainSseClient(base: string): Promise<{
  progress: number;
  result: boolean;
  endedAtMs: number;
  how: string;
  /** When each page's progress event arrived (`performance.now()`), by page (1 first). */
  arrivals: number[];
}> {
  const t0 = performance.now();
  const arrivals: number[] = [];
  const start = await fetch(`${base}/outlast/jobs/ocr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ document: 'scan.pdf', run: 'plain' }),
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
          if (/^event: progress$/m.test(block)) {
            progress++;
            arrivals.push(performance.now());
          }
          if (/^event: outlast\.result$/m.test(block)) result = true;
        }
      }
    }
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    how = `the connection was closed mid-stream (${cause?.code ?? (error as Error).message})`;
  }
  return { progress, result, endedAtMs: performance.now() - t0, how, arrivals };
}
