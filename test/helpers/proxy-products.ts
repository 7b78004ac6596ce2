import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RealProxy, run } from './proxy-real.js';

/*
 * Real reverse proxies beyond nginx and HAProxy, from Debian's packages: each started in the
 * foreground on a free loopback port with a generated config in a temp dir, in front of
 * 127.0.0.1:upstreamPort, and stopped (dir removed) by `stop()`. Clocks are given in ms and
 * written in the unit the product accepts (whole seconds where it only takes seconds).
 */

/** The settings every product starter takes. */
export interface ProductSettings {
  upstreamPort: number;
}

const secs = (ms: number): number => Math.max(1, Math.round(ms / 1000));

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `outlast-${name}-`));
  // Some of them drop root for an unprivileged user that must still write its logs here.
  await chmod(dir, 0o777);
  return dir;
}

/** Apache httpd settings: `ProxyTimeout` (whole seconds). */
export interface ApacheSettings extends ProductSettings {
  /** `ProxyTimeout`: waiting for the response head and each read of the body, ms (rounded to s). */
  timeoutMs: number;
}

/** Apache httpd 2.4 with mod_proxy_http (WebSocket via `upgrade=websocket`). */
export async function startApache(s: ApacheSettings): Promise<RealProxy> {
  const dir = await tempDir('apache');
  const port = await freePort();
  const mods = '/usr/lib/apache2/modules';
  const conf = `
ServerRoot ${dir}
ServerName localhost
Listen 127.0.0.1:${port}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
ErrorLog ${dir}/error.log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module ${mods}/mod_mpm_event.so
LoadModule authz_core_module ${mods}/mod_authz_core.so
LoadModule proxy_module ${mods}/mod_proxy.so
LoadModule proxy_http_module ${mods}/mod_proxy_http.so
Timeout ${secs(s.timeoutMs)}
ProxyTimeout ${secs(s.timeoutMs)}
KeepAliveTimeout 30
ProxyPass / http://127.0.0.1:${s.upstreamPort}/ upgrade=websocket
ProxyPassReverse / http://127.0.0.1:${s.upstreamPort}/
`;
  await writeFile(join(dir, 'httpd.conf'), conf);
  return run('/usr/sbin/apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], dir, port, {
    pkg: 'apache2',
  });
}

/** Varnish settings (seconds, fractions allowed). */
export interface VarnishSettings extends ProductSettings {
  /** Backend `.first_byte_timeout`, ms. */
  firstByteMs: number;
  /** Backend `.between_bytes_timeout`, ms. */
  betweenBytesMs: number;
  /** `-p pipe_timeout` (WebSocket, piped): idle, ms. */
  pipeTimeoutMs?: number;
  /** `-p send_timeout`: the whole response to the client, ms. */
  sendTimeoutMs?: number;
}

/** Varnish Cache 7 passing every request (`return (pass)`), piping WebSocket upgrades. */
export async function startVarnish(s: VarnishSettings): Promise<RealProxy> {
  const dir = await tempDir('varnish');
  const port = await freePort();
  const vcl = `vcl 4.1;
backend app {
  .host = "127.0.0.1";
  .port = "${s.upstreamPort}";
  .first_byte_timeout = ${(s.firstByteMs / 1000).toFixed(3)}s;
  .between_bytes_timeout = ${(s.betweenBytesMs / 1000).toFixed(3)}s;
}
sub vcl_recv {
  if (req.http.upgrade ~ "(?i)websocket") { return (pipe); }
  return (pass);
}
sub vcl_pipe {
  if (req.http.upgrade) {
    set bereq.http.upgrade = req.http.upgrade;
    set bereq.http.connection = req.http.connection;
  }
}
`;
  await writeFile(join(dir, 'default.vcl'), vcl);
  const params: string[] = [];
  if (s.pipeTimeoutMs !== undefined)
    params.push('-p', `pipe_timeout=${(s.pipeTimeoutMs / 1000).toFixed(3)}`);
  if (s.sendTimeoutMs !== undefined)
    params.push('-p', `send_timeout=${(s.sendTimeoutMs / 1000).toFixed(3)}`);
  return run(
    '/usr/sbin/varnishd',
    [
      '-F',
      '-j',
      'none',
      '-a',
      `127.0.0.1:${port}`,
      '-T',
      'none',
      '-f',
      join(dir, 'default.vcl'),
      '-n',
      join(dir, 'work'),
      '-s',
      'malloc,32m',
      '-p',
      'thread_pools=1',
      '-p',
      'thread_pool_min=20',
      ...params,
    ],
    dir,
    port,
    { pkg: 'varnish' },
  );
}

/** Squid settings: `read_timeout` (whole seconds). */
export interface SquidSettings extends ProductSettings {
  /** `read_timeout`: server side, between reads (and for the response head), ms (rounded to s). */
  readTimeoutMs: number;
}

/** Squid 5 as a reverse proxy (accelerator) with caching off, WebSocket upgrades allowed. */
export async function startSquid(s: SquidSettings): Promise<RealProxy> {
  const dir = await tempDir('squid');
  const port = await freePort();
  const conf = `
http_port 127.0.0.1:${port} accel defaultsite=127.0.0.1 no-vhost
cache_peer 127.0.0.1 parent ${s.upstreamPort} 0 no-query originserver name=app
cache_peer_access app allow all
http_access allow all
http_upgrade_request_protocols WebSocket allow all
cache deny all
cache_mem 8 MB
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log none
cache_store_log none
coredump_dir ${dir}
cache_effective_user proxy
logfile_rotate 0
shutdown_lifetime 0 seconds
read_timeout ${secs(s.readTimeoutMs)} seconds
client_persistent_connections on
server_persistent_connections on
`;
  await writeFile(join(dir, 'squid.conf'), conf);
  return run('/usr/sbin/squid', ['-N', '-f', join(dir, 'squid.conf')], dir, port, {
    pkg: 'squid',
  });
}

/** lighttpd settings: mod_proxy's backend `read-timeout` (whole seconds). */
export interface LighttpdSettings extends ProductSettings {
  /** `proxy.server` host option `read-timeout`, ms (rounded to s). */
  readTimeoutMs: number;
}

/** lighttpd 1.4 with mod_proxy, streaming responses (`server.stream-response-body = 2`). */
export async function startLighttpd(s: LighttpdSettings): Promise<RealProxy> {
  const dir = await tempDir('lighttpd');
  const port = await freePort();
  const conf = `
server.document-root = "${dir}"
server.bind = "127.0.0.1"
server.port = ${port}
server.pid-file = "${dir}/lighttpd.pid"
server.errorlog = "${dir}/error.log"
server.modules = ( "mod_proxy" )
server.stream-response-body = 2
server.stream-request-body = 2
proxy.header = ( "upgrade" => "enable" )
proxy.server = ( "" => ( ( "host" => "127.0.0.1", "port" => ${s.upstreamPort}, "read-timeout" => ${secs(s.readTimeoutMs)} ) ) )
`;
  await writeFile(join(dir, 'lighttpd.conf'), conf);
  return run('/usr/sbin/lighttpd', ['-D', '-f', join(dir, 'lighttpd.conf')], dir, port, {
    pkg: 'lighttpd',
  });
}

/** Caddy settings: its reverse_proxy's HTTP transport clocks (Go durations, ms precise). */
export interface CaddySettings extends ProductSettings {
  /** Transport `read_timeout`: each read from the backend, ms. */
  readTimeoutMs?: number;
  /** Transport `response_header_timeout`: waiting for the response head, ms. */
  responseHeaderTimeoutMs?: number;
}

/** Caddy 2 with `reverse_proxy` (flushing at once), admin API off, config in JSON. */
export async function startCaddy(s: CaddySettings): Promise<RealProxy> {
  const dir = await tempDir('caddy');
  const port = await freePort();
  const transport: Record<string, unknown> = { protocol: 'http' };
  if (s.readTimeoutMs !== undefined) transport.read_timeout = `${s.readTimeoutMs}ms`;
  if (s.responseHeaderTimeoutMs !== undefined)
    transport.response_header_timeout = `${s.responseHeaderTimeoutMs}ms`;
  const config = {
    admin: { disabled: true },
    logging: { logs: { default: { level: 'ERROR' } } },
    storage: { module: 'file_system', root: dir },
    apps: {
      http: {
        servers: {
          s: {
            listen: [`127.0.0.1:${port}`],
            automatic_https: { disable: true },
            routes: [
              {
                handle: [
                  {
                    handler: 'reverse_proxy',
                    upstreams: [{ dial: `127.0.0.1:${s.upstreamPort}` }],
                    flush_interval: -1,
                    transport,
                  },
                ],
              },
            ],
          },
        },
      },
    },
  };
  await writeFile(join(dir, 'caddy.json'), JSON.stringify(config));
  return run('/usr/bin/caddy', ['run', '--config', join(dir, 'caddy.json')], dir, port, {
    pkg: 'caddy',
    env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
}

/** Apache Traffic Server settings (whole seconds). */
export interface TrafficServerSettings extends ProductSettings {
  /** `proxy.config.http.transaction_no_activity_timeout_out`: origin side idle, ms (rounded to s). */
  noActivityOutMs: number;
}

/** Apache Traffic Server 9 as a reverse proxy (a remap rule, caching off), from a runroot in dir. */
export async function startTrafficServer(s: TrafficServerSettings): Promise<RealProxy> {
  const dir = await tempDir('ats');
  const port = await freePort();
  for (const d of ['etc', 'log', 'run', 'cache', 'bin'])
    await mkdir(join(dir, d), { recursive: true });
  await chmod(join(dir, 'log'), 0o777);
  await chmod(join(dir, 'run'), 0o777);
  await chmod(join(dir, 'cache'), 0o777);
  const records = `
CONFIG proxy.config.http.server_ports STRING ${port}
CONFIG proxy.config.admin.user_id STRING #-1
CONFIG proxy.config.http.cache.http INT 0
CONFIG proxy.config.reverse_proxy.enabled INT 1
CONFIG proxy.config.url_remap.remap_required INT 1
CONFIG proxy.config.http.insert_request_via_str INT 1
CONFIG proxy.config.http.insert_response_via_str INT 0
CONFIG proxy.config.http.transaction_no_activity_timeout_out INT ${secs(s.noActivityOutMs)}
CONFIG proxy.config.http.transaction_no_activity_timeout_in INT 600
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.diags.debug.enabled INT 0
CONFIG proxy.config.log.logging_enabled INT 0
CONFIG proxy.config.hostdb.host_file.path STRING /etc/hosts
`;
  await writeFile(join(dir, 'etc', 'records.config'), records);
  await writeFile(join(dir, 'etc', 'remap.config'), `map / http://127.0.0.1:${s.upstreamPort}/\n`);
  await writeFile(
    join(dir, 'etc', 'ip_allow.yaml'),
    'ip_allow:\n  - apply: in\n    ip_addrs: 0/0\n    action: allow\n  - apply: in\n    ip_addrs: ::/0\n    action: allow\n  - apply: out\n    ip_addrs: 0/0\n    action: allow\n',
  );
  for (const f of [
    'storage.config',
    'plugin.config',
    'cache.config',
    'hosting.config',
    'parent.config',
    'socks.config',
    'splitdns.config',
    'volume.config',
    'ssl_multicert.config',
  ])
    await writeFile(join(dir, 'etc', f), '');
  await writeFile(join(dir, 'etc', 'logging.yaml'), 'logging: {}\n');
  await writeFile(join(dir, 'etc', 'sni.yaml'), 'sni: []\n');
  await writeFile(join(dir, 'etc', 'strategies.yaml'), '');
  await writeFile(
    join(dir, 'runroot.yaml'),
    `prefix: ${dir}\nexec_prefix: /usr\nbindir: /usr/bin\nsbindir: /usr/sbin\nsysconfdir: ${dir}/etc\ndatadir: /usr/share/trafficserver\nlibdir: /usr/lib/trafficserver\nlibexecdir: /usr/lib/trafficserver/modules\nlocalstatedir: ${dir}\nruntimedir: ${dir}/run\nlogdir: ${dir}/log\ncachedir: ${dir}/cache\nincludedir: /usr/include\n`,
  );
  return run('/usr/bin/traffic_server', [], dir, port, {
    pkg: 'trafficserver',
    env: { TS_RUNROOT: join(dir, 'runroot.yaml') },
  });
}
