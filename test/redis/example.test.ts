import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, eventsOf } from '../helpers/clients.js';
import { freePort, startRedis, type TestRedis } from '../helpers/redis-server.js';

/* examples/ocr-redis.ts, twice on one Redis: a job started on one is read from the other. */

let redis: TestRedis;
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis?.close();
});

async function startExample(): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/ocr-redis.ts'], {
    env: { ...process.env, REDIS_URL: redis.url, PORT: String(port), OCR_DURATION_MS: '600' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c;
      if (out.includes('listening on')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`example exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}/outlast`;
}

it('runs examples/ocr-redis.ts as two instances sharing jobs', async () => {
  const [one, two] = await Promise.all([startExample(), startExample()]);
  const res = await fetch(`${one}/jobs/ocr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ document: 'scan.pdf', pages: 3 }),
  });
  const { jobId } = (await res.json()) as { jobId: string };
  const conn = connect('sse', two!, jobId);
  expect((await conn.finished).how).toBe('end');
  const events = eventsOf(conn.messages);
  expect(events.filter((e) => e.event === 'progress')).toHaveLength(3);
  expect(events.at(-1)?.event).toBe('outlast.result');
  const record = (await (await fetch(`${two}/jobs/${jobId}`)).json()) as { state: string };
  expect(record.state).toBe('succeeded');
}, 60_000);
