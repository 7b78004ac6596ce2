import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Caching proxies: Varnish, Squid, Apache Traffic Server. */
export const caches: readonly KnownProduct[] = [
  {
    id: 'varnish',
    name: 'Varnish Cache',
    family: 'caches',
    sources: [
      'https://varnish-cache.org/docs/trunk/reference/vcl-backend.html',
      'https://varnish-cache.org/docs/trunk/reference/varnishd.html#first-byte-timeout',
      'https://varnish-cache.org/docs/trunk/reference/varnishd.html#between-bytes-timeout',
      'https://varnish-cache.org/docs/trunk/reference/varnishd.html#pipe-timeout',
      'https://varnish-cache.org/docs/trunk/reference/varnishd.html#send-timeout',
    ],
    response: [['x-varnish', /^\d+( \d+)?$/]],
    request: [['x-varnish', /^\d+$/]],
    via: /\(Varnish\/[\d.]+\)/,
    errorBody: [/Guru Meditation/, /Varnish cache server/],
    errorHeaders: [['server', /^Varnish$/]],
    clocks: [
      {
        setting: 'first_byte_timeout',
        defaultMs: 60 * S,
        limits: [L.firstByte],
        granularityMs: 1,
        status: 503,
        where: 'the VCL backend definition (.first_byte_timeout) or varnishd -p first_byte_timeout',
        fix: (ms) => `.first_byte_timeout = ${secs(ms)}s;`,
      },
      {
        setting: 'between_bytes_timeout',
        defaultMs: 60 * S,
        limits: [L.idle],
        granularityMs: 1,
        where:
          'the VCL backend definition (.between_bytes_timeout) or varnishd -p between_bytes_timeout',
        fix: (ms) => `.between_bytes_timeout = ${secs(ms)}s;`,
      },
      {
        setting: 'pipe_timeout',
        defaultMs: 60 * S,
        limits: [L.wsIdle],
        granularityMs: 1,
        where: 'varnishd -p pipe_timeout=SECONDS (piped requests: WebSocket)',
        fix: (ms) => `-p pipe_timeout=${secs(ms)}`,
      },
      {
        setting: 'send_timeout',
        defaultMs: 600 * S,
        limits: [L.total],
        granularityMs: 1,
        where: 'varnishd -p send_timeout=SECONDS (the whole response to the client)',
        fix: (ms) => `-p send_timeout=${secs(ms)}`,
      },
    ],
  },
  {
    id: 'squid',
    name: 'Squid',
    family: 'caches',
    sources: [
      'https://www.squid-cache.org/Doc/config/read_timeout/',
      'https://www.squid-cache.org/Doc/config/client_lifetime/',
      'https://www.squid-cache.org/Doc/config/via/',
      'https://www.squid-cache.org/Doc/config/forwarded_for/',
      'https://www.squid-cache.org/Doc/config/http_upgrade_request_protocols/',
    ],
    response: [
      // Squid's own words, upper case (CloudFront says "Miss from cloudfront").
      ['x-cache', /^(HIT|MISS|NONE|REFRESH_\w+) from /],
      ['x-cache-lookup', /^(HIT|MISS|NONE) from /],
      ['server', /^squid/i],
    ],
    request: [['surrogate-capability', /Surrogate\//]],
    via: /\(squid\/[\d.]+\)/i,
    errorBody: [/The Squid Software Foundation/, /ERR_[A-Z_]+/],
    errorHeaders: [['x-squid-error', /^ERR_/]],
    clocks: [
      {
        setting: 'read_timeout',
        defaultMs: 15 * 60 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 504,
        where: 'squid.conf (checked once a second: a cut lands up to a second late)',
        fix: (ms) => `read_timeout ${secs(ms)} seconds`,
      },
      {
        setting: 'client_lifetime',
        defaultMs: 24 * 3600 * S,
        limits: [L.total, L.wsTotal],
        granularityMs: S,
        where: 'squid.conf',
        fix: (ms) => `client_lifetime ${secs(ms)} seconds`,
      },
    ],
    maxForwards: true,
  },
  {
    id: 'traffic-server',
    name: 'Apache Traffic Server',
    family: 'caches',
    sources: [
      'https://docs.trafficserver.apache.org/en/9.2.x/admin-guide/files/records.config.en.html#proxy-config-http-transaction-no-activity-timeout-out',
      'https://docs.trafficserver.apache.org/en/9.2.x/admin-guide/files/records.config.en.html#proxy-config-http-transaction-active-timeout-in',
      'https://docs.trafficserver.apache.org/en/9.2.x/admin-guide/files/records.config.en.html#proxy-config-http-insert-request-via-str',
    ],
    response: [['server', /^ATS\//]],
    request: [['client-ip', /./]],
    via: /traffic_server|ApacheTrafficServer/,
    errorBody: [
      /<BODY BGCOLOR="white" FGCOLOR="black">/,
      /Description: (Could not|Your request|Too much time)/,
    ],
    errorHeaders: [['server', /^ATS\//]],
    clocks: [
      {
        // Measured on 9.2: it cuts a silent stream after its headers (up to a second late),
        // but neither a response that has not started nor a WebSocket tunnel.
        setting: 'proxy.config.http.transaction_no_activity_timeout_out',
        defaultMs: 30 * S,
        limits: [L.idle],
        granularityMs: S,
        where: 'records.config (records.yaml from 10): origin side, seconds',
        fix: (ms) => `CONFIG proxy.config.http.transaction_no_activity_timeout_out INT ${secs(ms)}`,
      },
      {
        setting: 'proxy.config.http.transaction_active_timeout_in',
        defaultMs: 900 * S,
        limits: [L.total, L.wsTotal],
        granularityMs: S,
        where: 'records.config: the whole client transaction, seconds',
        fix: (ms) => `CONFIG proxy.config.http.transaction_active_timeout_in INT ${secs(ms)}`,
      },
    ],
    maxForwards: true,
  },
];
