import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Fingerprint, FingerprintContext } from './fingerprints.js';

/*
 * Fingerprints of the products the probe knows beyond the first presets, as each shows itself
 * on the wire (the probe's knowledge, src/probe/knowledge/, cites the sources; Varnish, Squid
 * and Apache were measured on Debian's packages).
 */

const html: [string, string] = ['content-type', 'text/html; charset=utf-8'];
const why = (status: number): string => STATUS_CODES[status] ?? 'Error';
const xid = (ctx: FingerprintContext): string => String(Number.parseInt(ctx.id.slice(0, 7), 16));

/** Varnish's synthetic error page (its built-in vcl_synth / vcl_backend_error). */
function guruPage(status: number, text: string, ctx: FingerprintContext): string {
  return `<!DOCTYPE html>\n<html>\n  <head>\n    <title>${status} ${text}</title>\n  </head>\n  <body>\n    <h1>Error ${status} ${text}</h1>\n    <p>${text}</p>\n    <h3>Guru Meditation:</h3>\n    <p>XID: ${xid(ctx)}</p>\n    <hr>\n    <p>Varnish cache server</p>\n  </body>\n</html>\n`;
}

/** Fingerprints by name, merged into `fingerprints`. */
export const productFingerprints: Readonly<Record<string, Fingerprint>> = {
  varnish: {
    request: (ctx) => [['x-varnish', xid(ctx)]],
    response: (ctx) => [
      ['via', '1.1 varnish (Varnish/7.1)'],
      ['x-varnish', xid(ctx)],
      ['age', '0'],
    ],
    hide: [],
    errorPage: (status, ctx) => ({
      headers: [html, ['server', 'Varnish'], ['retry-after', '5'], ['x-varnish', xid(ctx)]],
      body: guruPage(status, status === 503 ? 'Backend fetch failed' : why(status), ctx),
    }),
  },
  squid: {
    request: () => [
      ['via', '1.1 squid-proxy (squid/5.7)'],
      ['surrogate-capability', 'squid-proxy="Surrogate/1.0"'],
    ],
    response: () => [
      ['via', '1.1 squid-proxy (squid/5.7)'],
      ['x-cache', 'MISS from squid-proxy'],
      ['x-cache-lookup', 'MISS from squid-proxy:3128'],
    ],
    hide: [],
    errorPage: (status) => ({
      headers: [
        html,
        ['server', 'squid/5.7'],
        ['x-squid-error', status === 504 ? 'ERR_READ_TIMEOUT 0' : 'ERR_CONNECT_FAIL 111'],
      ],
      body: `<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN">\n<html><head>\n<meta type="copyright" content="Copyright (C) 1996-2021 The Squid Software Foundation and contributors">\n<title>ERROR: The requested URL could not be retrieved</title></head><body><h1>ERROR</h1><h2>The requested URL could not be retrieved</h2><p>${status === 504 ? 'Read Timeout' : 'Connection failed'}</p></body></html>\n`,
    }),
  },
  apache: {
    request: () => [
      ['x-forwarded-host', 'app.example'],
      ['x-forwarded-server', 'app.example'],
    ],
    response: () => [['server', 'Apache/2.4.71 (Debian)']],
    hide: ['server'],
    errorPage: (status) => ({
      headers: [
        ['content-type', 'text/html; charset=iso-8859-1'],
        ['server', 'Apache/2.4.71 (Debian)'],
      ],
      body: `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>${status} Proxy Error</title>\n</head><body>\n<h1>Proxy Error</h1>\n<p>The proxy server received an invalid\nresponse from an upstream server.<br />\nThe proxy server could not handle the request<p>Reason: <strong>Error reading from remote server</strong></p></p>\n</body></html>\n`,
    }),
  },
  fastly: {
    request: (ctx) => [
      ['fastly-client-ip', ctx.clientAddress],
      ['fastly-ff', `${ctx.id.slice(0, 20)}!SJC!cache-sjc10043-SJC`],
      ['cdn-loop', 'Fastly'],
    ],
    response: (ctx) => [
      ['via', '1.1 varnish'],
      ['x-served-by', 'cache-sjc10043-SJC'],
      ['x-cache', 'MISS'],
      ['x-timer', `S${Math.floor(ctx.startedAt / 1000)}.000000,VS0,VE1`],
    ],
    hide: [],
    errorPage: (status, ctx) => ({
      headers: [html, ['x-served-by', 'cache-sjc10043-SJC'], ['via', '1.1 varnish']],
      body: `<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n<html><head><title>${status} ${status === 503 ? 'first byte timeout' : why(status)}</title></head><body><h1>Error ${status} ${status === 503 ? 'first byte timeout' : why(status)}</h1><p>${status === 503 ? 'first byte timeout' : why(status)}</p><h3>Error ${status}</h3><p>Details: cache-sjc10043-SJC ${Math.floor(ctx.startedAt / 1000)} ${xid(ctx)}</p><hr><p>Varnish cache server</p></body></html>\n`,
    }),
  },
  akamai: {
    request: (ctx) => [
      ['akamai-origin-hop', '1'],
      ['true-client-ip', ctx.clientAddress],
      ['via', '1.1 akamai.net(ghost) (AkamaiGHost)'],
    ],
    response: () => [],
    hide: [],
    errorPage: (status, ctx) => ({
      headers: [html, ['server', 'AkamaiGHost'], ['mime-version', '1.0']],
      body: `<HTML><HEAD>\n<TITLE>${status === 504 ? 'Gateway Timeout' : why(status)}</TITLE>\n</HEAD><BODY>\n<H1>${status === 504 ? 'Gateway Timeout' : why(status)}</H1>\nAn error occurred while processing your request.<p>\nReference&#32;&#35;97&#46;${ctx.id.slice(0, 8)}&#46;${Math.floor(ctx.startedAt / 1000)}&#46;${ctx.id.slice(8, 14)}\n<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;97&#46;${ctx.id.slice(0, 8)}</P>\n</BODY>\n</HTML>\n`,
    }),
  },
  kong: {
    request: () => [
      ['x-forwarded-path', '/outlast-probe'],
      ['x-forwarded-prefix', '/'],
    ],
    response: (_ctx, elapsedMs) => [
      ['via', '1.1 kong/3.4.0'],
      ['x-kong-upstream-latency', String(Math.round(elapsedMs))],
      ['x-kong-proxy-latency', '1'],
    ],
    hide: [],
    errorPage: (status) => ({
      headers: [
        ['content-type', 'application/json; charset=utf-8'],
        ['server', 'kong/3.4.0'],
      ],
      body: `{\n  "message":"${status === 504 ? 'The upstream server is timing out' : 'An invalid response was received from the upstream server'}",\n  "request_id":"${randomUUID().replaceAll('-', '')}"\n}`,
    }),
  },
  'azure-app-gateway': {
    request: (ctx) => [
      ['x-original-host', 'app.example'],
      ['x-appgw-trace-id', ctx.id.slice(0, 32)],
      ['x-forwarded-proto', 'https'],
    ],
    response: () => [],
    hide: [],
    errorPage: (status) => ({
      headers: [html, ['server', 'Microsoft-Azure-Application-Gateway/v2']],
      body: `<html>\r\n<head><title>${status} ${why(status)}</title></head>\r\n<body>\r\n<center><h1>${status} ${why(status)}</h1></center>\r\n<hr><center>Microsoft-Azure-Application-Gateway/v2</center>\r\n</body>\r\n</html>\r\n`,
    }),
  },
  fly: {
    request: (ctx) => [
      ['fly-client-ip', ctx.clientAddress],
      ['fly-forwarded-port', '443'],
      ['fly-region', 'ams'],
      ['fly-request-id', `${ctx.id.slice(0, 26)}-ams`],
      ['via', '1.1 fly.io'],
    ],
    response: (ctx) => [
      ['server', 'Fly/ba9e227a5 (2025-11-10)'],
      ['via', '1.1 fly.io'],
      ['fly-request-id', `${ctx.id.slice(0, 26)}-ams`],
    ],
    hide: ['server'],
    errorPage: (status) => ({
      headers: [['content-type', 'text/plain']],
      body: `${why(status)}\n`,
    }),
  },
  vercel: {
    request: (ctx) => [
      ['x-vercel-id', `sfo1::${ctx.id.slice(0, 20)}`],
      ['x-vercel-forwarded-for', ctx.clientAddress],
      ['x-vercel-deployment-url', 'app-abc123.vercel.app'],
    ],
    response: (ctx) => [
      ['server', 'Vercel'],
      ['x-vercel-id', `sfo1::${ctx.id.slice(0, 20)}`],
      ['x-vercel-cache', 'MISS'],
    ],
    hide: ['server'],
    errorPage: (status, ctx) => ({
      headers: [
        ['content-type', 'text/plain; charset=utf-8'],
        ['server', 'Vercel'],
        [
          'x-vercel-error',
          status === 504 ? 'FUNCTION_INVOCATION_TIMEOUT' : 'FUNCTION_INVOCATION_FAILED',
        ],
      ],
      body: `An error occurred with your deployment\n\n${status === 504 ? 'FUNCTION_INVOCATION_TIMEOUT' : 'FUNCTION_INVOCATION_FAILED'}\n\nsfo1::${ctx.id.slice(0, 20)}\n`,
    }),
  },
};
