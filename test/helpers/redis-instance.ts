/*
 * One outlast server instance on the Redis store, run as a child process by the
 * multi-instance tests: `node --import tsx test/helpers/redis-instance.ts`.
 *
 * Environment: REDIS_URL, KEY_PREFIX, INSTANCE_ID, JOB_LEASE_MS (default 1000), PORT
 * (default 0). Prints `READY {"port","instanceId"}` once listening. Every HTTP response names
 * the instance in an `outlast-instance` header; `GET /control/hits` answers how many reads
 * each stream got here, by transport.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachWebSocket, createOutlast } from '../../src/server/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';

const instanceId = process.env.INSTANCE_ID ?? `i${process.pid}`;
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

let store: Awaited<ReturnType<typeof createRedisStore>>;
try {
  store = await createRedisStore({
    keyPrefix: process.env.KEY_PREFIX ?? 'outlast:',
    instanceId,
    jobLeaseMs: Number(process.env.JOB_LEASE_MS ?? 1000),
    onConnectionChange: (error) =>
      process.stderr.write(`${instanceId}: ${error === null ? 'Redis is back' : error.message}\n`),
  });
} catch (error) {
  process.stderr.write(`${instanceId}: ${(error as Error).message}\n`);
  process.exit(3);
}

const outlast = createOutlast({
  store,
  heartbeatTickMs: 20,
  minHeartbeatMs: 100,
  minMaxStreamMs: 100,
  onError: () => {},
  jobs: {
    steps: async (ctx: {
      input: { n: number; ms: number };
      signal: AbortSignal;
      progress(d: unknown): Promise<void>;
    }) => {
      for (let i = 0; i < ctx.input.n && !ctx.signal.aborted; i++) {
        await ctx.progress({ step: i, by: instanceId });
        await sleep(ctx.input.ms, ctx.signal);
      }
      return { steps: ctx.input.n, by: instanceId };
    },
    forever: async (ctx: { signal: AbortSignal; progress(d: unknown): Promise<void> }) => {
      for (let i = 0; !ctx.signal.aborted; i++) {
        await ctx.progress({ step: i, by: instanceId });
        await sleep(100, ctx.signal);
      }
    },
  },
});

const hits: Record<string, Record<string, number>> = {};
function hit(url: string, upgrade: boolean): void {
  const parsed = new URL(url, 'http://x');
  const match = /\/(?:streams\/([^/]+)|jobs\/([^/]+)\/events)$/.exec(parsed.pathname);
  if (match === null) return;
  const transport = upgrade ? 'ws' : (parsed.searchParams.get('transport') ?? 'sse');
  const id = decodeURIComponent(match[1] ?? match[2]!);
  const counts = hits[id] ?? {};
  counts[transport] = (counts[transport] ?? 0) + 1;
  hits[id] = counts;
}

const server = createServer((req, res) => {
  res.setHeader('outlast-instance', instanceId);
  if (req.url === '/control/hits') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(hits));
    return;
  }
  if (req.method === 'GET' && req.url !== undefined) hit(req.url, false);
  outlast.handleNode(req, res);
});
server.on('upgrade', (req) => hit(req.url ?? '', true));
attachWebSocket(outlast, server);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`READY ${JSON.stringify({ port, instanceId })}\n`);
});

process.on('SIGTERM', async () => {
  await outlast.close();
  server.closeAllConnections();
  server.close();
  await store.close();
  process.exit(0);
});
