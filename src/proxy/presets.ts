import { OutlastError } from '../errors.js';
import type { HopKnobs } from './knobs.js';
import { productPresets } from './presets-products.js';

/** A named set of knobs that reproduces one real intermediary, with where the facts come from. */
export interface Preset {
  /** Name used by `--preset` and in chains. */
  name: string;
  /** One line: what it is. */
  summary: string;
  /** Knobs that differ from {@link hopDefaults} (durations at time scale 1). */
  knobs: Partial<HopKnobs>;
  /**
   * The public source of the numbers: the row of `docs/intermediaries.md` and the vendor
   * document it cites; `docs/intermediaries-measured.md` for what was measured here.
   */
  source: string;
}

const S = 1000;
const MIN = 60 * S;

/**
 * The presets. Numbers are the vendors' defaults (time scale 1) from the facts table
 * (`docs/intermediaries.md`, mirrored in `docs/proxy.md`); where the real
 * software was measured against its preset, `docs/intermediaries-measured.md` says so.
 */
export const presets: readonly Preset[] = [
  {
    name: 'cloudflare',
    summary: 'Cloudflare proxy (Free/Pro): 100 s between two reads from the origin, 524',
    knobs: {
      idleMs: 100 * S,
      firstByteMs: 100 * S,
      timeoutStatus: 524,
      // Cloudflare's own page for an origin that refuses the connection is 521 ("Web server
      // is down"), not a generic 502.
      upstreamErrorStatus: 521,
      websocketIdleMs: 100 * S,
      websocketTotalMs: null,
      fingerprint: 'cloudflare',
    },
    source:
      'intermediaries.md row "Cloudflare proxy": Cloudflare connection limits, error 524 (WebSocket idle ~100 s unconfirmed)',
  },
  {
    name: 'aws-alb',
    summary: 'AWS Application Load Balancer: 60 s idle both directions, 504 from awselb/2.0',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      fingerprint: 'aws-alb',
    },
    source:
      'intermediaries.md row "AWS ALB": ELB docs, load balancer attributes (idle_timeout 60 s)',
  },
  {
    name: 'aws-service-connect',
    summary:
      'AWS ECS Service Connect (Envoy): 15 s per-request total that WebSockets escape, 300 s idle',
    knobs: {
      idleMs: 300 * S,
      totalMs: 15 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      websocketIdleMs: 300 * S,
      websocketTotalMs: null,
      fingerprint: 'envoy',
    },
    source:
      'intermediaries.md row "AWS ECS Service Connect": AWS API_TimeoutConfiguration (idleTimeoutSeconds 300, perRequestTimeoutSeconds 15), the Service Connect incident (SSE dies at 15 s, WebSocket survives)',
  },
  {
    name: 'envoy',
    summary: 'Envoy: route timeout 15 s (also on upgrades before 2025), stream idle 5 min',
    knobs: {
      idleMs: 5 * MIN,
      totalMs: 15 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      fingerprint: 'envoy',
    },
    source:
      'intermediaries.md row "Envoy": Envoy timeouts FAQ (route timeout 15 s, stream_idle_timeout 5 min; route timeout on upgrades until envoy PR #41075)',
  },
  {
    name: 'nginx',
    summary: 'nginx reverse proxy: proxy_read_timeout 60 s, proxy_buffering on',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      headWaitsForBody: true,
      bufferOptOut: ['x-accel-buffering'],
      fingerprint: 'nginx',
    },
    source:
      'intermediaries.md row "nginx": nginx proxy and websocket docs; proxy_buffering measured against nginx 1.22: streams reads as they come, holds the head until the first body bytes (docs/intermediaries-measured.md)',
  },
  {
    name: 'nginx-gzip',
    summary: 'nginx with gzip on text/event-stream: holds the stream until it ends',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      holdWhole: true,
      bufferTypes: ['text/event-stream'],
      bufferOptOut: ['x-accel-buffering'],
      bufferNeedsGzip: true,
      headWaitsForBody: true,
      fingerprint: 'nginx',
    },
    source:
      'intermediaries.md row "nginx": "gzip on text/event-stream holds everything"; measured against nginx 1.22 with gzip_types text/event-stream (held until the end when the request accepts gzip; X-Accel-Buffering: no makes it stream)',
  },
  {
    name: 'haproxy',
    summary: 'HAProxy (Debian default config): timeout server/client 50 s of inactivity',
    knobs: {
      idleMs: 50 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      upstreamErrorDelayMs: 3 * S,
      corkMs: 200,
      fingerprint: 'haproxy',
    },
    source:
      'intermediaries.md row "HAProxy": HAProxy configuration manual; 50 s from Debian /etc/haproxy/haproxy.cfg; 200 ms corked writes and 503 on a refused server measured against HAProxy 2.6 (docs/intermediaries-measured.md)',
  },
  {
    name: 'aws-nlb',
    summary: 'AWS Network Load Balancer (L4): drops a connection idle for 350 s without a word',
    knobs: {
      idleMs: 350 * S,
      cut: 'silent',
    },
    source:
      'intermediaries.md row "AWS NLB": ELB NLB docs (350 s TCP idle; silent drop, RST on the next send)',
  },
  {
    name: 'heroku',
    summary: 'Heroku router: 30 s to first byte (H12), then a 55 s rolling window (H15), 503',
    knobs: {
      idleMs: 55 * S,
      firstByteMs: 30 * S,
      timeoutStatus: 503,
      upstreamErrorStatus: 503,
      fingerprint: 'heroku',
    },
    source: 'intermediaries.md row "Heroku router": Heroku request-timeout docs (H12, H15)',
  },
  {
    name: 'gcp-lb',
    summary: 'GCP external HTTP(S) LB: backend timeoutSec 30 s, first request byte to last',
    knobs: {
      totalMs: 30 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      fingerprint: 'gcp-lb',
    },
    source:
      'intermediaries.md row "GCP external HTTP(S) LB": GCP backend service docs (WebSocket lifetime = same value; 504 unconfirmed)',
  },
  {
    name: 'cloud-run',
    summary: 'Cloud Run: request timeout 300 s, WebSockets too',
    knobs: {
      totalMs: 300 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      fingerprint: 'cloud-run',
    },
    source: 'intermediaries.md row "Cloud Run": Cloud Run docs (request timeout 300 s, max 3600)',
  },
  {
    name: 'api-gateway',
    summary: 'AWS API Gateway (REST): 29 s integration timeout, buffers the whole response',
    knobs: {
      totalMs: 29 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      holdWhole: true,
      websocket: 'refuse',
      websocketRefuseStatus: 403,
      fingerprint: 'api-gateway',
    },
    source:
      'intermediaries.md row "AWS API Gateway (REST)": API Gateway quotas (29 s; WebSockets need a separate WS API)',
  },
  {
    name: 'cloudfront',
    summary: 'CloudFront: origin read/response timeout 30 s',
    knobs: {
      idleMs: 30 * S,
      firstByteMs: 30 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      websocketIdleMs: 10 * MIN,
      websocketTotalMs: null,
      fingerprint: 'cloudfront',
    },
    source:
      'intermediaries.md row "CloudFront": CloudFront origin settings (WebSocket 10 min idle unconfirmed)',
  },
  {
    name: 'azure-front-door',
    summary: 'Azure Front Door: origin response 30 s, does not stream SSE, WebSocket idle 5 min',
    knobs: {
      totalMs: 30 * S,
      firstByteMs: 30 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      holdWhole: true,
      bufferTypes: ['text/event-stream'],
      websocketIdleMs: 5 * MIN,
      websocketTotalMs: 4 * 60 * MIN,
      fingerprint: 'azure-front-door',
    },
    source:
      'intermediaries.md row "Azure Front Door": Azure Front Door docs ("does not support SSE" modelled as holding text/event-stream)',
  },
  {
    name: 'corporate-av',
    summary: 'Corporate / antivirus proxy: holds a whole text/event-stream response to scan it',
    knobs: {
      holdWhole: true,
      bufferTypes: ['text/event-stream'],
      fingerprint: 'corporate-av',
    },
    source: 'intermediaries.md row "Corporate / antivirus proxies": Broadcom KB 406021',
  },
  {
    name: 'ingress-nginx',
    summary: 'ingress-nginx (Kubernetes): proxy-read-timeout 60 s, buffering off',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      fingerprint: 'nginx',
    },
    source: 'intermediaries.md row "ingress-nginx (k8s)": ingress-nginx configmap docs',
  },
  {
    name: 'express-compression',
    summary: 'express `compression` middleware: holds SSE unless Cache-Control: no-transform',
    knobs: {
      holdWhole: true,
      bufferTypes: ['text/event-stream'],
      bufferOptOut: ['no-transform'],
      bufferNeedsGzip: true,
    },
    source: 'intermediaries.md row "express compression middleware": expressjs/compression README',
  },
  ...productPresets,
];

/** Names of every preset, in table order. */
export const presetNames: readonly string[] = presets.map((p) => p.name);

/**
 * Finds a preset by name.
 * @throws {OutlastError} `unknown-preset`, listing the valid names.
 */
export function getPreset(name: string): Preset {
  const preset = presets.find((p) => p.name === name.trim());
  if (preset === undefined) {
    throw new OutlastError(
      'unknown-preset',
      `unknown preset "${name}"; valid presets: ${presetNames.join(', ')}`,
    );
  }
  return preset;
}

/** Splits a comma list of presets (`cloudflare,aws-alb`) into presets, client side first. */
export function parsePresetList(list: string): Preset[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) {
    throw new OutlastError(
      'unknown-preset',
      `no preset named in "${list}"; valid presets: ${presetNames.join(', ')}`,
    );
  }
  return names.map(getPreset);
}
