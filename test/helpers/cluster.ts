import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import { createRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { HAPROXY } from './proxy-real.js';
import { freePort, startRedis, type TestRedis } from './redis-server.js';

/*
 * Several outlast instances (child processes, test/helpers/redis-instance.ts) sharing one
 * Redis, behind a real HAProxy started with a generated config: round-robin, no stickiness.
 */

const INSTANCE = fileURLToPath(new URL('./redis-instance.ts', import.meta.url));

/** One running instance. */
export interface Instance {
  readonly id: string;
  readonly port: number;
  /** `http://127.0.0.1:{port}/outlast`, bypassing the load balancer. */
  readonly base: string;
  readonly process: ChildProcess;
  /** What it wrote to stderr. */
  readonly log: string[];
  /** SIGKILL: no goodbye, its leases run out. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** Reads per stream and transport it served. */
  hits(): Promise<Record<string, Record<string, number>>>;
}

/** Starts one instance; rejects with its stderr when it exits before listening. */
export async function startInstance(env: {
  REDIS_URL: string;
  KEY_PREFIX: string;
  INSTANCE_ID: string;
  JOB_LEASE_MS?: string;
  PORT?: string;
}): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', INSTANCE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => log.push(String(chunk)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`instance did not start: ${log.join('')}`)),
      30_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = /READY (\{.*\})/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve((JSON.parse(match[1]!) as { port: number }).port);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited with ${code}: ${log.join('')}`));
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    id: env.INSTANCE_ID,
    port,
    base: `${origin}/outlast`,
    process: child,
    log,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async hits() {
      return (await (await fetch(`${origin}/control/hits`)).json()) as Record<
        string,
        Record<string, number>
      >;
    },
  };
}

/** A running HAProxy. */
export interface Haproxy {
  readonly port: number;
  /** `http://127.0.0.1:{port}/outlast` */
  readonly base: string;
  close(): Promise<void>;
}

/** HAProxy timeouts, ms. Short ones cut streams: that is the point. */
export interface HaproxyTimeouts {
  /** Idle time allowed on the server side of an HTTP exchange (SSE, long-poll). */
  server: number;
  /** Idle time allowed on a tunnel (WebSocket after the upgrade). */
  tunnel: number;
}

/** Starts HAProxy in front of `backends` (ports on 127.0.0.1): round-robin, no stickiness. */
export async function startHaproxy(
  backends: number[],
  timeouts: HaproxyTimeouts,
): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'outlast-haproxy-'));
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    `  timeout server ${timeouts.server}ms`,
    `  timeout tunnel ${timeouts.tunnel}ms`,
    // A dead instance is taken out quickly and requests to it go to another one.
    '  option redispatch',
    '  retries 2',
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  default_backend be',
    'backend be',
    '  balance roundrobin',
    ...backends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p} check inter 200ms fall 1 rise 2`),
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn(HAPROXY, ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c;
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready once it accepts connections on its port.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${output}`);
    try {
      await fetch(`http://127.0.0.1:${port}/outlast/none`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`haproxy did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    base: `http://127.0.0.1:${port}/outlast`,
    async close() {
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis, three instances on it behind HAProxy, and an outlast of the test's own on it. */
export interface Cluster {
  redis: TestRedis;
  instances: Instance[];
  lb: Haproxy;
  /** The test process's own store on the cluster's Redis and key prefix. */
  store: RedisStore;
  /** An outlast on `store`: publishes and cancels from the test process, through Redis. */
  outlast: Outlast;
  /** Stops everything, the outlast first and Redis last. */
  close(): Promise<void>;
}

/** Starts a {@link Cluster}: instances `a`, `b` and `c` sharing `prefix` on a fresh Redis. */
export async function startCluster(options: {
  prefix: string;
  timeouts: HaproxyTimeouts;
}): Promise<Cluster> {
  const redis = await startRedis();
  const instances = await Promise.all(
    ['a', 'b', 'c'].map((id) =>
      startInstance({ REDIS_URL: redis.url, KEY_PREFIX: options.prefix, INSTANCE_ID: id }),
    ),
  );
  const lb = await startHaproxy(
    instances.map((i) => i.port),
    options.timeouts,
  );
  const store = await createRedisStore({
    url: redis.url,
    keyPrefix: options.prefix,
    onConnectionChange: null,
  });
  const outlast = createOutlast({ store, onError: () => {} });
  return {
    redis,
    instances,
    lb,
    store,
    outlast,
    close: async () => {
      await outlast.close();
      await store.close();
      await lb.close();
      await Promise.all(instances.map((i) => i.stop()));
      await redis.close();
    },
  };
}
