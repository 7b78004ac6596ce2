import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real intermediary started by a test. */
export interface RealProxy {
  url: string;
  /** Its stderr/stdout so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1: listen on 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited early (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts a real server binary with its generated config in `dir` and resolves once it listens
 * on `port`; `stop()` ends it and removes `dir`. A missing binary fails loudly with the Debian
 * package that provides it: these tests are never skipped.
 */
export async function run(
  bin: string,
  args: string[],
  dir: string,
  port: number,
  extra: { pkg?: string; env?: Record<string, string> } = {},
): Promise<RealProxy> {
  if (!existsSync(bin)) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `${bin} is not installed: run .ci/run, or apt-get install -y ${extra.pkg ?? 'nginx haproxy'}`,
    );
  }
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(extra.env === undefined ? {} : { env: { ...process.env, ...extra.env } }),
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const log = (): string => out;
  try {
    await waitForPort(port, child, log);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Paths of the real binaries (Debian's packages, installed by `.ci/run`). */
export const NGINX = '/usr/sbin/nginx';
export const HAPROXY = '/usr/sbin/haproxy';

/** nginx settings a fidelity scenario varies. */
export interface NginxSettings {
  upstreamPort: number;
  /** `proxy_read_timeout`, in ms. */
  readTimeoutMs: number;
  buffering: boolean;
  gzip?: boolean;
}

/**
 * Starts nginx in the foreground (`daemon off; master_process off;`) as a reverse proxy to
 * 127.0.0.1:upstreamPort, with a generated config in a temp dir and a free port.
 */
export async function startNginx(s: NginxSettings): Promise<RealProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'outlast-nginx-'));
  const port = await freePort();
  const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 2048; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    ${s.gzip ? 'gzip on; gzip_types text/event-stream; gzip_proxied any; gzip_min_length 1;' : ''}
    location / {
      proxy_pass http://127.0.0.1:${s.upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout ${s.readTimeoutMs}ms;
      proxy_buffering ${s.buffering ? 'on' : 'off'};
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  return run(
    NGINX,
    [
      '-e',
      join(dir, 'error.log'),
      '-p',
      dir,
      '-c',
      join(dir, 'nginx.conf'),
      '-g',
      'daemon off; master_process off;',
    ],
    dir,
    port,
  );
}

/** HAProxy settings a fidelity scenario varies. */
export interface HaproxySettings {
  upstreamPort: number;
  /** `timeout client` and `timeout server`, in ms. */
  timeoutMs: number;
  /** `timeout tunnel` (after an upgrade), in ms; none: client/server timeouts apply. */
  tunnelMs?: number;
}

/** Starts HAProxy in the foreground (`-db`) in HTTP mode with a generated config. */
export async function startHaproxy(s: HaproxySettings): Promise<RealProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'outlast-haproxy-'));
  const port = await freePort();
  const cfg = `
global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client ${s.timeoutMs}ms
  timeout server ${s.timeoutMs}ms
  ${s.tunnelMs === undefined ? '' : `timeout tunnel ${s.tunnelMs}ms`}
  option forwardfor
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${s.upstreamPort}
`;
  await writeFile(join(dir, 'haproxy.cfg'), cfg);
  return run(HAPROXY, ['-f', join(dir, 'haproxy.cfg'), '-db'], dir, port);
}
