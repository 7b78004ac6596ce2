import type { Preset } from './presets.js';

const S = 1000;
const MIN = 60 * S;

/**
 * Presets of the products the probe knows beyond the first ones: their defaults (time scale
 * 1) from the probe's knowledge (`src/probe/knowledge/`, which cites each vendor's document),
 * with the same fingerprints, so the probe's accuracy table grades culprits on them too. The
 * simulator's idle clock also bounds the wait for headers; products whose first-byte clock is
 * a separate setting (Fastly) get the shorter of the two there.
 */
export const productPresets: readonly Preset[] = [
  {
    name: 'varnish',
    summary:
      'Varnish Cache: first_byte_timeout and between_bytes_timeout 60 s (503 Guru Meditation), send_timeout 600 s',
    knobs: {
      idleMs: 60 * S,
      firstByteMs: 60 * S,
      totalMs: 600 * S,
      timeoutStatus: 503,
      upstreamErrorStatus: 503,
      websocketIdleMs: 60 * S,
      websocketTotalMs: null,
      fingerprint: 'varnish',
    },
    source:
      'intermediaries.md row "Varnish Cache": varnishd parameters (first_byte_timeout, between_bytes_timeout, pipe_timeout 60 s; send_timeout 600 s); measured against Varnish 7.1 (docs/probe.md)',
  },
  {
    name: 'squid',
    summary: 'Squid reverse proxy: read_timeout 15 min (504 ERR_READ_TIMEOUT), no WebSocket',
    knobs: {
      idleMs: 15 * MIN,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      websocket: 'refuse',
      websocketRefuseStatus: 404,
      fingerprint: 'squid',
    },
    source:
      'intermediaries.md row "Squid": squid.conf read_timeout (15 minutes); WebSocket refused without http_upgrade_request_protocols, measured against Squid 5.7',
  },
  {
    name: 'apache',
    summary: 'Apache httpd mod_proxy: ProxyTimeout = Timeout 60 s, 502 "Proxy Error"',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 502,
      upstreamErrorStatus: 503,
      fingerprint: 'apache',
    },
    source:
      'intermediaries.md row "Apache httpd mod_proxy": ProxyTimeout (defaults to Timeout, 60 s); 502 at ProxyTimeout measured against Apache 2.4 (docs/probe.md)',
  },
  {
    name: 'fastly',
    summary: 'Fastly: first byte 15 s, between bytes 10 s, 503 "first byte timeout"',
    knobs: {
      idleMs: 10 * S,
      firstByteMs: 15 * S,
      timeoutStatus: 503,
      upstreamErrorStatus: 503,
      fingerprint: 'fastly',
    },
    source:
      'intermediaries.md row "Fastly": Fastly VCL reference: bereq.first_byte_timeout 15 s, bereq.between_bytes_timeout 10 s',
  },
  {
    name: 'akamai',
    summary: 'Akamai: read timeout 120 s per read, 504 with a reference number',
    knobs: {
      idleMs: 120 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 503,
      fingerprint: 'akamai',
    },
    source:
      'intermediaries.md row "Akamai": Akamai Property Manager, Read Timeout behavior (120 s default is unconfirmed)',
  },
  {
    name: 'kong',
    summary: 'Kong Gateway: service read_timeout 60 s, 504 "The upstream server is timing out"',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      fingerprint: 'kong',
    },
    source:
      'intermediaries.md row "Kong Gateway": Kong Gateway Service entity (read_timeout 60000 ms); Kong PR #2036',
  },
  {
    name: 'azure-app-gateway',
    summary: 'Azure Application Gateway: backend request timeout 20 s to the response',
    knobs: {
      firstByteMs: 20 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      fingerprint: 'azure-app-gateway',
    },
    source:
      'intermediaries.md row "Azure Application Gateway": backend settings: request timeout 20 s',
  },
  {
    name: 'fly',
    summary: 'Fly.io proxy: 60 s idle',
    knobs: {
      idleMs: 60 * S,
      timeoutStatus: 502,
      upstreamErrorStatus: 502,
      fingerprint: 'fly',
    },
    source:
      'intermediaries.md row "Fly.io proxy": Fly.io request headers docs; 60 s idle from community reports (unconfirmed)',
  },
  {
    name: 'vercel',
    summary: 'Vercel function: maxDuration 300 s, no WebSocket',
    knobs: {
      totalMs: 300 * S,
      timeoutStatus: 504,
      upstreamErrorStatus: 502,
      websocket: 'refuse',
      websocketRefuseStatus: 400,
      fingerprint: 'vercel',
    },
    source:
      'intermediaries.md row "Vercel functions": Vercel functions duration docs (300 s with fluid compute); WebSockets not supported',
  },
];
