import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, eventsOf, type TransportKind } from '../helpers/clients.js';

/*
 * Each example runs as its own process, with its one command, on port 0 and a 600 ms "45 s"
 * job; a client starts a job, reads it across rotations, and fetches the result.
 */

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGTERM');
  child = undefined;
});

function start(file: string): Promise<string> {
  child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      OCR_DURATION_MS: '600',
      MAX_STREAM_MS: '250',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${file} did not start: ${out}`)), 20_000);
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child!.once('exit', (code) => reject(new Error(`${file} exited with ${code}: ${out}`)));
  });
}

async function readJob(kind: TransportKind, base: string, jobId: string) {
  const events: { id: string; event: string; data: string }[] = [];
  let last: string | null = null;
  let rotations = 0;
  for (let round = 0; round < 50; round++) {
    const conn = connect(kind, base, jobId, { lastEventId: last });
    const finish = await conn.finished;
    for (const e of eventsOf(conn.messages)) {
      events.push(e);
      last = e.id;
    }
    if (finish.how === 'rotate') rotations++;
    else break;
  }
  return { events, rotations };
}

describe.each([
  ['plain node:http', 'examples/ocr-node.ts'],
  ['Express', 'examples/ocr-express.ts'],
  ['Hono', 'examples/ocr-hono.ts'],
])('example on %s', (_name, file) => {
  it('runs the OCR job to its result over SSE (rotating) and WebSocket', async () => {
    const origin = await start(file);
    const base = `${origin}/outlast`;
    const res = await fetch(`${base}/jobs/ocr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ document: 'scan.pdf', pages: 6 }),
    });
    expect(res.status).toBe(202);
    const { jobId, result } = (await res.json()) as { jobId: string; result: string };
    const [sse, ws] = await Promise.all([readJob('sse', base, jobId), readJob('ws', base, jobId)]);
    for (const read of [sse, ws]) {
      expect(read.events.filter((e) => e.event === 'progress')).toHaveLength(6);
      expect(read.events.at(-1)!.event).toBe('outlast.result');
    }
    expect(sse.rotations).toBeGreaterThanOrEqual(1);
    const record = (await (await fetch(`${origin}${result}`)).json()) as {
      state: string;
      result: { document: string; pages: number };
    };
    expect(record.state).toBe('succeeded');
    expect(record.result).toMatchObject({ document: 'scan.pdf', pages: 6 });
  });
});

describe('example deploy', () => {
  it('drains on SIGTERM: the reader is told to reconnect, the job finishes, the process exits', async () => {
    const origin = await start('examples/ocr-node.ts');
    const base = `${origin}/outlast`;
    const res = await fetch(`${base}/jobs/ocr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pages: 3 }),
    });
    const { jobId, result } = (await res.json()) as { jobId: string; result: string };
    const reader = connect('sse', base, jobId);
    await reader.waitFor((m) => m.type === 'open');
    let out = '';
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child!.kill('SIGTERM');
    expect((await reader.finished).how).toBe('rotate');
    // New readers are refused while the job finishes (a balancer sends them elsewhere).
    const refused = await fetch(`${base}/streams/${jobId}`);
    expect(refused.status).toBe(503);
    const record = (await (await fetch(`${origin}${result}`)).json()) as { state: string };
    expect(['running', 'succeeded']).toContain(record.state);
    expect(await exited).toBe(0);
    expect(out).toMatch(/drained: \{"rotated":1,"polls":0,"jobsFinished":1,"jobsInterrupted":0/);
    child = undefined;
  });
});
