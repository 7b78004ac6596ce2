import { OutlastError } from '../../errors.js';

/** What `outlast config --for` can print. */
export const configTargets = [
  'nginx',
  'haproxy',
  'alb-terraform',
  'service-connect',
  'cloudflare',
  'node',
  'uvicorn',
] as const;

/** One of {@link configTargets}. */
export type ConfigTarget = (typeof configTargets)[number];

/** Options of {@link renderConfig}. */
export interface ConfigOptions {
  /**
   * The idle timeout to set on the intermediary, ms: longer than the heartbeat interval with
   * room to spare (heartbeats then keep the stream alive whatever happens).
   * @default 300_000 (5 min)
   */
  idleMs?: number;
  /**
   * The longest one stream may last, ms (total-duration clocks are raised to it).
   * @default 3_600_000 (1 h)
   */
  maxStreamMs?: number;
  /**
   * The heartbeat the outlast server sends, ms (shown in the comments).
   * @default 15_000
   */
  heartbeatMs?: number;
}

/** Defaults of {@link ConfigOptions}. */
export const configDefaults = { idleMs: 300_000, maxStreamMs: 3_600_000, heartbeatMs: 15_000 };

const sec = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));
/** A heartbeat in seconds as written, never rounded up (2500 -> "2.5"). */
const secText = (ms: number): string => String(Number((ms / 1000).toFixed(3)));

/** One line on what the snippet of each target does. */
export const configTitles: Record<ConfigTarget, string> = {
  nginx: 'nginx: longer read timeout, no buffering, WebSocket upgrade',
  haproxy: 'HAProxy: longer client/server/tunnel timeouts, no corked writes',
  'alb-terraform': 'AWS ALB (Terraform): idle timeout above the heartbeat',
  'service-connect': 'AWS ECS Service Connect (Terraform): per-request timeout off for streams',
  cloudflare: 'Cloudflare: 100 s between reads is fixed on Free/Pro; heartbeat below it',
  node: 'Node.js backend: keep-alive above the load balancer idle timeout, no request timeout',
  uvicorn: 'uvicorn backend: keep-alive above the load balancer idle timeout',
};

const pretty = (ms: number): string =>
  ms >= 60_000 && ms % 6_000 === 0
    ? `${ms / 60_000}m`
    : ms >= 1000
      ? `${secText(ms)}s`
      : `${Math.round(ms)}ms`;

/**
 * Refuses a combination no snippet can honour: the facts table's rule is a heartbeat at most
 * half the idle clock, so one heartbeat may be late or lost and the stream still lives.
 * @throws {OutlastError} `invalid-option` saying which value to change, and to what.
 */
export function checkConfigOptions(options: ConfigOptions): void {
  const idleMs = options.idleMs ?? configDefaults.idleMs;
  const heartbeatMs = options.heartbeatMs ?? configDefaults.heartbeatMs;
  const maxStreamMs = options.maxStreamMs ?? configDefaults.maxStreamMs;
  for (const [what, v] of [
    ['idle', idleMs],
    ['heartbeat', heartbeatMs],
    ['max-stream', maxStreamMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) {
      throw new OutlastError('invalid-option', `the ${what} must be a duration above 0 (got ${v})`);
    }
  }
  if (heartbeatMs * 2 > idleMs) {
    throw new OutlastError(
      'invalid-option',
      `a heartbeat every ${pretty(heartbeatMs)} does not keep an idle timeout of ${pretty(idleMs)} open: the heartbeat must be at most half the idle timeout; raise --idle to ${pretty(heartbeatMs * 2)} or more, or lower --heartbeat to ${pretty(Math.floor(idleMs / 2))} or less`,
    );
  }
}

/**
 * A ready-to-paste snippet that lifts the limits of one intermediary or backend for
 * long-lived streams.
 * @throws {OutlastError} `invalid-option` for an unknown target, or a heartbeat above half the
 *   idle timeout ({@link checkConfigOptions}).
 */
export function renderConfig(target: string, options: ConfigOptions = {}): string {
  checkConfigOptions(options);
  const idle = sec(options.idleMs ?? configDefaults.idleMs);
  const total = sec(options.maxStreamMs ?? configDefaults.maxStreamMs);
  const heartbeatMs = options.heartbeatMs ?? configDefaults.heartbeatMs;
  const hb = secText(heartbeatMs);
  switch (target as ConfigTarget) {
    case 'nginx':
      return `# nginx: in the location that proxies the streams
location /outlast/ {
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;      # WebSocket
    proxy_set_header Connection $connection_upgrade;
    proxy_read_timeout ${idle}s;                 # idle clock: above the ${hb}s heartbeat
    proxy_send_timeout ${idle}s;
    proxy_buffering off;                         # or send X-Accel-Buffering: no (outlast does)
    gzip off;                                    # gzip holds text/event-stream until the end
}
# in http {}: map $http_upgrade $connection_upgrade { default upgrade; '' close; }
`;
    case 'haproxy':
      return `# HAProxy: defaults (or the frontend/backend that carries the streams)
defaults
    mode http
    timeout client  ${idle}s    # inactivity, both ways: above the ${hb}s heartbeat
    timeout server  ${idle}s
    timeout tunnel  ${total}s   # WebSocket after the upgrade
    option http-no-delay        # no corked writes: each event leaves at once
`;
    case 'alb-terraform':
      return `# AWS ALB (Terraform): idle timeout, 1-4000 s
resource "aws_lb" "app" {
  # ...
  idle_timeout = ${Math.min(4000, idle)}   # above the ${hb}s heartbeat
}
# AWS CLI: aws elbv2 modify-load-balancer-attributes --load-balancer-arn ARN \\
#   --attributes Key=idle_timeout.timeout_seconds,Value=${Math.min(4000, idle)}
`;
    case 'service-connect':
      return `# AWS ECS Service Connect (Terraform): the per-request timeout is a total clock that
# cuts SSE however busy it is (15 s seen in the wild); WebSockets escape it.
resource "aws_ecs_service" "api" {
  # ...
  service_connect_configuration {
    enabled = true
    service {
      port_name = "http"
      timeout {
        per_request_timeout_seconds = ${total}   # 0 switches it off
        idle_timeout_seconds        = ${idle}
      }
    }
  }
}
# Or keep it and let outlast rotate streams before it: createOutlast({ maxStreamMs }).
`;
    case 'cloudflare':
      return `# Cloudflare (Free/Pro): 100 s between two reads from the origin is fixed (error 524).
# Keep the heartbeat below it; Enterprise can raise proxy_read_timeout:
#   curl -X PATCH "https://api.cloudflare.com/client/v4/zones/$ZONE/settings/proxy_read_timeout" \\
#     -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" --data '{"value":${Math.min(6000, idle)}}'
createOutlast({ heartbeatMs: ${Math.min(heartbeatMs, 50_000)} });   // well under 100 s
# Streams are not buffered by Cloudflare; Cache-Control: no-transform keeps compression off.
`;
    case 'node':
      return `// Node.js: keep-alive longer than the load balancer's idle timeout (ALB 60 s), else it
// reuses a connection Node already closed (sporadic 502); nothing ends long responses.
import { hardenServer } from 'outlast/server';
hardenServer(server, { keepAliveTimeoutMs: ${(Math.max(65, Math.min(idle, 4000)) + 5) * 1000} });
// same as: server.keepAliveTimeout = ${(Math.max(65, Math.min(idle, 4000)) + 5) * 1000}; server.headersTimeout = ${(Math.max(65, Math.min(idle, 4000)) + 6) * 1000};
//          server.requestTimeout = 0; server.setTimeout(0);
`;
    case 'uvicorn':
      return `# uvicorn: keep-alive longer than the load balancer's idle timeout (default 5 s)
uvicorn app:app --timeout-keep-alive ${Math.max(65, Math.min(idle, 4000)) + 5}
# and send an SSE comment (": hb") at least every ${hb} s from the stream generator
`;
    default:
      throw new OutlastError(
        'invalid-option',
        `no config for "${target}"; use one of: ${configTargets.join(', ')}`,
      );
  }
}
