import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Content delivery networks: Cloudflare, Akamai, Fastly (CloudFront is in aws.ts). */
export const cdns: readonly KnownProduct[] = [
  {
    id: 'cloudflare',
    name: 'Cloudflare',
    family: 'cdn',
    sources: [
      'https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-524/',
      'https://developers.cloudflare.com/fundamentals/reference/http-headers/',
      'https://developers.cloudflare.com/fundamentals/reference/connection-limits/',
    ],
    response: [
      ['server', /^cloudflare$/i],
      ['cf-ray', /./],
      ['cf-cache-status', /./],
    ],
    request: [
      ['cf-ray', /./],
      ['cf-connecting-ip', /./],
      ['cdn-loop', /cloudflare/i],
      ['cf-visitor', /./],
    ],
    errorBody: [/A timeout occurred/i, /\| Cloudflare/],
    statuses: [520, 521, 522, 523, 524],
    clocks: [
      {
        setting: 'Proxy Read Timeout (Enterprise; 100 s on other plans)',
        defaultMs: 100 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 524,
        where: 'Cloudflare dashboard: Rules > Configuration Rules (Enterprise), or the API',
        fix: (ms) =>
          `proxy_read_timeout = ${secs(ms)} (Enterprise only; otherwise heartbeat under 100 s)`,
      },
    ],
    config: 'cloudflare',
  },
  {
    id: 'akamai',
    name: 'Akamai',
    family: 'cdn',
    sources: [
      'https://techdocs.akamai.com/property-mgr/docs/read-timeout',
      'https://techdocs.akamai.com/edge-diagnostics/docs/pragma-headers',
      'https://techdocs.akamai.com/property-mgr/docs/origin-characteristics',
    ],
    response: [
      ['server', /^AkamaiGHost$/i],
      ['x-akamai-transformed', /./],
      ['x-cache', /akamai(technologies)?\.(net|com)/i],
    ],
    request: [
      ['akamai-origin-hop', /^\d+$/],
      ['true-client-ip', /./],
      ['x-akamai-edgescape', /./],
    ],
    via: /akamai\.net\(ghost\)|AkamaiGHost/i,
    errorBody: [
      /Reference #\d+\.[0-9a-f]+\.\d+\.[0-9a-f]+/,
      /An error occurred while processing your request/,
    ],
    clocks: [
      {
        setting: 'Read Timeout behavior (readTimeout.value)',
        defaultMs: 120 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 504,
        where: 'Property Manager: the Read Timeout behavior (1-600 s; ask the account team)',
        fix: (ms) => `"readTimeout": { "value": "${secs(ms)}s" }`,
      },
    ],
    note: 'the 120 s default read timeout is from third-party notes (unconfirmed); headers like x-cache need Pragma: akamai-x-cache-on',
  },
  {
    id: 'fastly',
    name: 'Fastly',
    family: 'cdn',
    sources: [
      'https://www.fastly.com/documentation/reference/vcl/variables/backend-connection/bereq-first-byte-timeout',
      'https://www.fastly.com/documentation/reference/vcl/variables/backend-connection/bereq-between-bytes-timeout',
      'https://www.fastly.com/documentation/reference/http/http-headers/X-Served-By/',
      'https://www.fastly.com/documentation/reference/http/http-headers/Fastly-Client-IP/',
    ],
    response: [
      ['x-served-by', /^cache-/],
      ['x-timer', /^S\d+/],
      ['fastly-debug-digest', /./],
    ],
    request: [
      ['fastly-client-ip', /./],
      ['fastly-ff', /./],
      ['cdn-loop', /fastly/i],
    ],
    via: /^1\.1 varnish$/i,
    // Its synthetic pages end like Varnish's ("Varnish cache server") but name the cache node.
    errorBody: [
      /first byte timeout/,
      /between bytes timeout/,
      /Fastly error/i,
      /Details: cache-[\w-]+ \d+/,
    ],
    clocks: [
      {
        setting: 'first_byte_timeout (bereq.first_byte_timeout)',
        defaultMs: 15 * S,
        limits: [L.firstByte],
        granularityMs: 1,
        status: 503,
        where:
          "the service's origin (Host) settings, or VCL in vcl_miss/vcl_pass; over 60 s needs a pass without clustering",
        fix: (ms) => `set bereq.first_byte_timeout = ${secs(ms)}s;`,
      },
      {
        setting: 'between_bytes_timeout (bereq.between_bytes_timeout)',
        defaultMs: 10 * S,
        limits: [L.idle],
        granularityMs: 1,
        where: "the service's origin (Host) settings, or VCL (capped at 60 s between Fastly nodes)",
        fix: (ms) => `set bereq.between_bytes_timeout = ${secs(ms)}s;`,
      },
    ],
  },
];
