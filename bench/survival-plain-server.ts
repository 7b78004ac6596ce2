/**
 * The plain SSE endpoint of bench:survival: what the published SSE timeout mitigation guide measured behind its intermediaries,
 * not what outlast serves. Each request runs its own job and streams its output as it is
 * produced, the way a framework's streaming response does:
 *   - headers are set but not flushed: Node sends them with the first write, so a job that
 *     thinks before its first output leaves the path with no response at all meanwhile
 *     (a first-byte or idle clock fires before headers, and the hop answers 504/524/503);
 *   - no `id:` lines, no history: a reconnect is a new request, hence a new job from the start,
 *     and what the first job produced after the cut is gone;
 *   - no `X-Accel-Buffering`, no `Cache-Control: no-transform`: buffering hops hold it;
 *   - with `heartbeatMs`, a comment line at once (so headers leave at once) and then every
 *     `heartbeatMs`, the usual "keep-alive comment" mitigation and nothing more.
 * The job stops when its request goes away (nobody reads it any more).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PlainJob {
  /** Silence before the first output (ms, already scaled). */
  thinkMs: number;
  /** Progress events, numbered 1..steps. */
  steps: number;
  /** Between two progress events (ms, already scaled). */
  stepMs: number;
}

export interface PlainServerOptions {
  job: PlainJob;
  /** A comment line every this many ms from the start; null: none (ms, already scaled). */
  heartbeatMs: number | null;
  /**
   * Sent as `retry:` with the first write: EventSource's default 3 s reconnection delay,
   * time-scaled like every other duration of the bench; not a mitigation.
   */
  retryMs: number;
}

export interface PlainServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * Starts the plain endpoint on 127.0.0.1 (any path). Events: `progress` with
 * `{ i, t }` (t: the time it was written), then `result` with `{ ok, t }` (t: the job's
 * return), then the response ends.
 */
export async function startPlainServer(options: PlainServerOptions): Promise<PlainServer> {
  const { job, heartbeatMs, retryMs } = options;
  const handle = (_req: IncomingMessage, res: ServerResponse) => {
    const timers = new Set<NodeJS.Timeout>();
    let beat: NodeJS.Timeout | null = null;
    let done = false;
    const stop = () => {
      done = true;
      for (const t of timers) clearTimeout(t);
      if (beat !== null) clearInterval(beat);
    };
    // The response ended, the client left or a hop cut it: the job's output has nowhere to go.
    // (Not `req`'s close: it also fires once the request itself is read.)
    res.on('close', stop);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    let first = true;
    const write = (chunk: string) => {
      if (done) return;
      // The first write carries the headers (Node flushes them with it) and the retry hint.
      res.write(first ? `retry: ${retryMs}\n\n${chunk}` : chunk);
      first = false;
    };
    const later = (ms: number, f: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!done) f();
      }, ms);
      timers.add(t);
    };
    if (heartbeatMs !== null) {
      write(':\n\n');
      beat = setInterval(() => write(':\n\n'), heartbeatMs);
    }
    const step = (i: number) => {
      write(`event: progress\ndata: ${JSON.stringify({ i, t: Date.now() })}\n\n`);
      if (i < job.steps) later(job.stepMs, () => step(i + 1));
      else {
        write(`event: result\ndata: ${JSON.stringify({ ok: true, t: Date.now() })}\n\n`);
        stop();
        res.end();
      }
    };
    later(job.thinkMs, () => step(1));
  };
  const http = createServer(handle);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}
