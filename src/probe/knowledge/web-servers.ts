import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Reverse proxies people run themselves: nginx, Apache httpd, lighttpd, Caddy, IIS ARR. */
export const webServers: readonly KnownProduct[] = [
  {
    id: 'nginx',
    name: 'nginx',
    family: 'web-servers',
    sources: [
      'https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_read_timeout',
      'https://nginx.org/en/docs/http/websocket.html',
      'docs/intermediaries-measured.md (nginx 1.22.1)',
    ],
    response: [['server', /^nginx/i]],
    request: [],
    errorBody: [/<center>nginx[^<]*<\/center>/, /Request Header Or Cookie Too Large/],
    clocks: [
      {
        setting: 'proxy_read_timeout',
        defaultMs: 60 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: 1,
        status: 504,
        where: 'nginx.conf, the location that proxies to the app',
        fix: (ms) => `proxy_read_timeout ${secs(ms)}s;`,
      },
    ],
    config: 'nginx',
  },
  {
    id: 'ingress-nginx',
    name: 'ingress-nginx (Kubernetes)',
    family: 'web-servers',
    sources: [
      'https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#custom-timeouts',
      'https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/configmap/',
    ],
    response: [],
    request: [
      ['x-request-id', /^[0-9a-f]{32}$/],
      ['x-scheme', /^https?$/],
    ],
    errorBody: [],
    clocks: [
      {
        setting: 'nginx.ingress.kubernetes.io/proxy-read-timeout',
        defaultMs: 60 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 504,
        where: 'the Ingress annotations (seconds)',
        fix: (ms) => `nginx.ingress.kubernetes.io/proxy-read-timeout: "${secs(ms)}"`,
      },
    ],
    config: 'nginx',
  },
  {
    id: 'apache',
    name: 'Apache httpd (mod_proxy)',
    family: 'web-servers',
    sources: [
      'https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxytimeout',
      'https://httpd.apache.org/docs/2.4/mod/core.html#timeout',
      'https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#x-headers',
      'https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxyvia',
    ],
    response: [['server', /^Apache/]],
    request: [['x-forwarded-server', /./]],
    via: /\(Apache\//,
    errorBody: [
      /The proxy server received an invalid\s+response from an upstream server/,
      /Size of a request header field exceeds server limit/,
      /<address>Apache\/[^<]*<\/address>/,
    ],
    clocks: [
      {
        // Measured on 2.4: a silent upstream gets "502 Proxy Error ... Error reading from
        // remote server" at ProxyTimeout, not a 504.
        setting: 'ProxyTimeout',
        defaultMs: 60 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 502,
        where: 'the VirtualHost (or server config) that holds the ProxyPass; defaults to Timeout',
        fix: (ms) => `ProxyTimeout ${secs(ms)}`,
      },
    ],
    maxForwards: true,
  },
  {
    id: 'lighttpd',
    name: 'lighttpd (mod_proxy)',
    family: 'web-servers',
    sources: [
      'https://redmine.lighttpd.net/projects/lighttpd/wiki/Mod_proxy',
      'https://redmine.lighttpd.net/projects/lighttpd/wiki/Server_max-read-idleDetails',
      'https://redmine.lighttpd.net/projects/lighttpd/wiki/Server_stream-response-bodyDetails',
    ],
    response: [['server', /^lighttpd/i]],
    request: [['x-host', /./]],
    errorBody: [/<\?xml version="1\.0" encoding="iso-8859-1"\?>[\s\S]*<title>\d{3} /],
    clocks: [
      {
        setting: 'proxy.server "read-timeout"',
        defaultMs: null,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 504,
        // Measured on 1.4.69: fires about a second after the value (checked once a second,
        // strictly greater).
        where: 'lighttpd.conf, the host entry of proxy.server (seconds; checked once a second)',
        fix: (ms) => `"read-timeout" => ${secs(ms)}`,
      },
      {
        setting: 'server.max-read-idle',
        defaultMs: 60 * S,
        limits: [L.wsIdle],
        granularityMs: S,
        where: 'lighttpd.conf (seconds, the client side)',
        fix: (ms) => `server.max-read-idle = ${secs(ms)}`,
      },
    ],
    note: 'responses are buffered unless server.stream-response-body = 1 or 2',
  },
  {
    id: 'caddy',
    name: 'Caddy (reverse_proxy)',
    family: 'web-servers',
    sources: [
      'https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#transports',
      'https://caddyserver.com/docs/json/apps/http/servers/routes/handle/reverse_proxy/transport/http/',
      'https://caddyserver.com/docs/caddyfile/options#timeouts',
    ],
    response: [['server', /^Caddy$/]],
    request: [],
    via: /\bCaddy\b/,
    errorBody: [],
    errorHeaders: [['server', /^Caddy$/]],
    clocks: [
      {
        setting: 'transport http response_header_timeout',
        defaultMs: null,
        limits: [L.firstByte],
        granularityMs: 1,
        status: 504,
        where: 'the reverse_proxy block, transport http { ... } (Go duration)',
        fix: (ms) => `response_header_timeout ${secs(ms)}s`,
      },
      {
        setting: 'servers timeouts write',
        defaultMs: null,
        limits: [L.total],
        granularityMs: 1,
        where: 'the global options block, servers { timeouts { write ... } }',
        fix: (ms) => `write ${secs(ms)}s`,
      },
    ],
    // Measured on 2.6: without trusted_proxies it sets X-Forwarded-For to its own client only.
    resetsForwardedFor: true,
    note: 'measured on 2.6: transport read_timeout does not cut a silent stream after its headers',
  },
  {
    id: 'iis-arr',
    name: 'IIS Application Request Routing',
    family: 'web-servers',
    sources: [
      'https://learn.microsoft.com/en-us/iis/extensions/configuring-application-request-routing-arr/creating-a-forward-proxy-using-application-request-routing',
      'https://blogs.iis.net/richma/502-3-bad-gateway-the-operation-timed-out-with-iis-application-request-routing-arr',
    ],
    response: [
      ['x-powered-by', /ARR\//],
      ['server', /^Microsoft-IIS/],
    ],
    request: [
      ['x-arr-log-id', /./],
      ['x-original-url', /./],
      ['x-arr-ssl', /./],
    ],
    errorBody: [/502\.3 - Bad Gateway/, /0x80072ee2/, /The operation timed out/],
    clocks: [
      {
        setting: 'system.webServer/proxy timeout',
        defaultMs: 120 * S,
        limits: [L.firstByte, L.idle],
        granularityMs: S,
        status: 502,
        where:
          'applicationHost.config, <system.webServer><proxy timeout="..."> (IIS Manager: ARR Server Proxy Settings, Time-out)',
        fix: (ms) => {
          const s = secs(ms);
          const hh = String(Math.floor(s / 3600)).padStart(2, '0');
          const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
          const ss = String(s % 60).padStart(2, '0');
          return `<proxy enabled="true" timeout="${hh}:${mm}:${ss}" />`;
        },
      },
    ],
    note: 'default 120 s as ARR 3 ships it (third-party sources; older docs say 30 s)',
  },
];
