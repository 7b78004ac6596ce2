import { createServer } from 'node:http';
import { OutlastError } from '../errors.js';
import { createGateway, type GatewayRoute, parseRouteSpec } from '../gateway/index.js';
import { hardenServer } from '../server/index.js';
import type { Store } from '../store/types.js';
import { parseHostPort, readArgs } from './args.js';
import { type CliCommand, type CliContext, UsageError } from './command.js';
import { parseDuration } from './duration.js';

const usage = `Usage: outlast gateway --upstream URL [--listen HOST:PORT] [--store redis://...]
                       [--route '[METHOD] /path=stream|job|pass' ...] [--heartbeat D]
                       [--max-stream D] [--max-runs N] [--max-body N]

A reverse proxy in front of a backend that is not written with outlast (FastAPI, an
OpenAI-compatible API): upstream event streams are read to their end into resumable outlast
streams (SSE, WebSocket, long-poll; heartbeats, rotation, resume), long requests become jobs
(202 + job id; GET the result, DELETE aborts), WebSockets pass through. See docs/gateway.md.

Options:
  --upstream URL        where every request goes (required); clients never choose
  --listen HOST:PORT    address (default 127.0.0.1:0, loopback and a free port)
  --store URL           redis://host:port: runs shared by every gateway on that Redis
  --route SPEC          e.g. 'POST /ocr=job', 'GET /events/*=stream' (repeatable, first wins)
  --heartbeat D         heartbeat to clients (default 15s)
  --max-stream D        rotate every client response after D (set it below the path's total
                        clock: 12s behind Service Connect); default: off
  --max-runs N          upstream runs at once (default 1000)
  --max-body N          request body kept for a run, bytes (default 1048576)

Prints "outlast gateway listening on http://HOST:PORT" once ready; SIGINT or SIGTERM closes it.
`;

function parseCount(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) === 0) {
    throw new UsageError(`--${flag} "${text}" must be a positive integer`);
  }
  return Number(text);
}

async function openStore(url: string): Promise<Store> {
  if (!/^rediss?:\/\//.test(url)) {
    throw new OutlastError(
      'invalid-option',
      `--store "${url}" must be a redis:// or rediss:// URL`,
    );
  }
  const { createRedisStore } = await import('../store/redis/index.js');
  return createRedisStore({ url });
}

async function run(context: CliContext): Promise<number> {
  const { argv, stdout, signal } = context;
  let upstream: string | undefined;
  let listen = { host: '127.0.0.1', port: 0 };
  let storeUrl: string | null = null;
  const routes: GatewayRoute[] = [];
  const limits: {
    heartbeatMs?: number;
    maxStreamMs?: number;
    maxRuns?: number;
    maxBodyBytes?: number;
  } = {};
  for (const { name, value } of readArgs(argv, {
    values: [
      'upstream',
      'listen',
      'store',
      'route',
      'heartbeat',
      'max-stream',
      'max-runs',
      'max-body',
    ],
  })) {
    if (name === 'upstream') upstream = value;
    else if (name === 'listen') listen = parseHostPort(name, value);
    else if (name === 'store') storeUrl = value;
    else if (name === 'route') routes.push(parseRouteSpec(value));
    else if (name === 'heartbeat') limits.heartbeatMs = parseDuration(value, '--heartbeat');
    else if (name === 'max-stream') limits.maxStreamMs = parseDuration(value, '--max-stream');
    else if (name === 'max-runs') limits.maxRuns = parseCount(name, value);
    else if (name === 'max-body') limits.maxBodyBytes = parseCount(name, value);
  }
  if (upstream === undefined) throw new UsageError('--upstream URL is required');
  const store = storeUrl === null ? undefined : await openStore(storeUrl);
  const gateway = createGateway({
    upstream,
    routes,
    ...limits,
    ...(store === undefined ? {} : { store }),
    ...(limits.heartbeatMs !== undefined && limits.heartbeatMs < 1000
      ? { minHeartbeatMs: limits.heartbeatMs }
      : {}),
  });
  const server = hardenServer(createServer(gateway.handleNode));
  const detach = gateway.attachWebSocket(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const lines = [`outlast gateway listening on http://${host}:${port}`, `  upstream ${upstream}`];
  for (const r of routes) lines.push(`  route ${r.method} ${r.path} = ${r.mode}`);
  if (storeUrl !== null) lines.push(`  store ${storeUrl.replace(/\/\/[^@/]*@/, '//***@')}`);
  stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  detach();
  await gateway.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store?.close();
  stdout.write('outlast gateway closed\n');
  return 0;
}

/** `outlast gateway`: outlast's guarantees in front of a backend that is not written with it. */
export const gatewayCommand: CliCommand = {
  name: 'gateway',
  summary:
    'reverse proxy giving an existing backend (FastAPI, an LLM API) resumable streams and jobs',
  usage,
  run,
};
