import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Load balancers and gateways people run: HAProxy, Traefik, Envoy, Istio, Kong, F5 BIG-IP. */
export const balancers: readonly KnownProduct[] = [
  {
    id: 'haproxy',
    name: 'HAProxy',
    family: 'balancers',
    sources: [
      'https://docs.haproxy.org/2.6/configuration.html#4-timeout%20server',
      'https://docs.haproxy.org/2.6/configuration.html#4-timeout%20tunnel',
      'https://docs.haproxy.org/2.6/configuration.html#4-option%20forwardfor',
      'docs/intermediaries-measured.md (HAProxy 2.6.12)',
    ],
    response: [],
    request: [],
    errorBody: [
      /The server didn't respond in time\./,
      /No server is available to handle this request\./,
      /Your browser sent an invalid request\./,
    ],
    clocks: [
      {
        setting: 'timeout server',
        defaultMs: null,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: 1,
        status: 504,
        where:
          'haproxy.cfg, defaults or the backend section (timeout client bounds the other side)',
        fix: (ms) => `timeout server ${secs(ms)}s`,
      },
      {
        setting: 'timeout tunnel',
        defaultMs: null,
        limits: [L.wsIdle],
        granularityMs: 1,
        where:
          'haproxy.cfg, defaults or the backend section (replaces client/server after an upgrade)',
        fix: (ms) => `timeout tunnel ${secs(ms)}s`,
      },
    ],
    note: 'no default: HAProxy warns and waits forever without timeout client/server; many configs copy 50 s',
    config: 'haproxy',
  },
  {
    id: 'traefik',
    name: 'Traefik',
    family: 'balancers',
    // forwardedHeaders.insecure is off by default: X-Forwarded-* from untrusted peers are dropped.
    resetsForwardedFor: true,
    sources: [
      'https://doc.traefik.io/traefik/routing/entrypoints/#forwarded-headers',
      'https://doc.traefik.io/traefik/routing/entrypoints/#respondingtimeouts',
      'https://doc.traefik.io/traefik/routing/services/#serverstransport',
      'https://doc.traefik.io/traefik/getting-started/faq/',
    ],
    response: [],
    // No fingerprint of its own: its request headers (x-forwarded-server, x-real-ip) are
    // Apache's and many nginx configs' too, its error bodies Go's bare status text.
    request: [],
    errorBody: [],
    clocks: [
      {
        setting: 'entryPoints.<name>.transport.respondingTimeouts.readTimeout',
        defaultMs: 60 * S,
        limits: [L.total],
        granularityMs: 1,
        where: 'the static configuration, per entry point (v3: reading the whole request)',
        fix: (ms) => `respondingTimeouts: { readTimeout: ${secs(ms)}s }`,
      },
      {
        setting: 'serversTransport forwardingTimeouts.responseHeaderTimeout',
        defaultMs: null,
        limits: [L.firstByte],
        granularityMs: 1,
        status: 504,
        where: 'the dynamic configuration, serversTransports',
        fix: (ms) => `forwardingTimeouts: { responseHeaderTimeout: ${secs(ms)}s }`,
      },
    ],
  },
  {
    // Service Connect runs Envoy: on the wire the two are one product, so one entry with
    // both names of each setting.
    id: 'envoy',
    name: 'Envoy (AWS ECS Service Connect)',
    family: 'balancers',
    sources: [
      'https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts',
      'https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-expected-rq-timeout-ms',
      'https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-request-id',
      'https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TimeoutConfiguration.html',
    ],
    response: [
      ['server', /^envoy$/i],
      ['x-envoy-upstream-service-time', /^\d+$/],
    ],
    request: [
      ['x-envoy-expected-rq-timeout-ms', /^\d+$/],
      ['x-envoy-attempt-count', /^\d+$/],
    ],
    errorBody: [
      /^upstream request timeout$/,
      /upstream connect error or disconnect\/reset before headers/,
    ],
    clocks: [
      {
        setting: 'route timeout (Service Connect: timeout.perRequestTimeoutSeconds)',
        defaultMs: 15 * S,
        limits: [L.firstByte, L.total],
        granularityMs: 1,
        status: 504,
        where:
          'Envoy: the route (timeout: 0s turns it off); Service Connect: the ECS service, serviceConnectConfiguration.services[].timeout',
        fix: (ms) =>
          `timeout: ${secs(ms)}s (Service Connect: perRequestTimeoutSeconds = ${secs(ms)})`,
      },
      {
        setting: 'stream_idle_timeout (Service Connect: timeout.idleTimeoutSeconds)',
        defaultMs: 300 * S,
        limits: [L.idle, L.wsIdle],
        granularityMs: 1,
        where: 'Envoy: the HTTP connection manager; Service Connect: the ECS service timeout block',
        fix: (ms) =>
          `stream_idle_timeout: ${secs(ms)}s (Service Connect: idleTimeoutSeconds = ${secs(ms)})`,
      },
    ],
    config: 'service-connect',
    note: "Service Connect documents the settings; the 15 s per-request default is Envoy's route timeout",
  },
  {
    id: 'istio',
    name: 'Istio (Envoy sidecar or gateway)',
    family: 'balancers',
    sources: [
      'https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute',
      'https://istio.io/latest/docs/reference/config/networking/destination-rule/#ConnectionPoolSettings-HTTPSettings',
    ],
    response: [['server', /^istio-envoy$/i]],
    request: [
      ['x-envoy-peer-metadata', /./],
      ['x-envoy-peer-metadata-id', /./],
      ['x-b3-traceid', /./],
    ],
    errorBody: [/^upstream request timeout$/],
    clocks: [
      {
        setting: 'VirtualService http[].timeout',
        defaultMs: null,
        limits: [L.firstByte, L.total],
        granularityMs: 1,
        status: 504,
        where: 'the VirtualService route (off by default)',
        fix: (ms) => `timeout: ${secs(ms)}s`,
      },
      {
        setting: 'DestinationRule connectionPool.http.idleTimeout',
        defaultMs: 3600 * S,
        limits: [L.idle, L.wsIdle],
        granularityMs: 1,
        where: 'the DestinationRule trafficPolicy',
        fix: (ms) => `idleTimeout: ${secs(ms)}s`,
      },
    ],
  },
  {
    id: 'kong',
    name: 'Kong Gateway',
    family: 'balancers',
    sources: [
      'https://developer.konghq.com/gateway/entities/service/',
      'https://github.com/Kong/kong/pull/2036',
      'https://developer.konghq.com/support/kong-proxy-latency-exceeds-timeout-limit-specified-on-service/',
    ],
    response: [
      ['x-kong-upstream-latency', /^\d+$/],
      ['x-kong-proxy-latency', /^\d+$/],
      ['via', /kong\//i],
    ],
    request: [['x-forwarded-path', /./]],
    via: /kong\/[\d.]+/i,
    errorBody: [
      /The upstream server is timing out/,
      /An invalid response was received from the upstream server/,
    ],
    errorHeaders: [['server', /^kong\//i]],
    clocks: [
      {
        setting: 'service read_timeout',
        defaultMs: 60 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: 1,
        status: 504,
        where: 'the Gateway Service (ms), or the upstream-timeout plugin; retries multiply it',
        fix: (ms) => `read_timeout: ${Math.ceil(ms)}`,
      },
    ],
  },
  {
    id: 'f5-bigip',
    name: 'F5 BIG-IP',
    family: 'balancers',
    sources: [
      'https://my.f5.com/manage/s/article/K7606',
      'https://techdocs.f5.com/en-us/bigip-15-1-0/big-ip-local-traffic-manager-profiles-reference/tcp-profile-settings.html',
    ],
    response: [['set-cookie', /^BIGipServer/]],
    request: [],
    errorBody: [/The requested URL was rejected/, /Your support ID is/],
    errorHeaders: [['server', /^BigIP$/i]],
    clocks: [
      {
        setting: 'TCP profile Idle Timeout',
        defaultMs: 300 * S,
        limits: [L.idle, L.wsIdle],
        granularityMs: S,
        where: "Local Traffic > Profiles > Protocol > TCP (the virtual server's profile), seconds",
        fix: (ms) => `idle-timeout ${secs(ms)}`,
      },
    ],
    note: 'the idle close is usually a reset; the cookie shows only with cookie persistence',
  },
];
