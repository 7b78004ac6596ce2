import { randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { productFingerprints } from './fingerprints-products.js';

/** What a fingerprint needs to know about one exchange. */
export interface FingerprintContext {
  /** Address of the client of this hop. */
  clientAddress: string;
  /** Wall-clock time the request arrived (ms since the epoch). */
  startedAt: number;
  /** The effective (scaled) total clock of the hop, or null. */
  totalMs: number | null;
  /** Per-exchange random id (hex), reused where one id shows up in several headers. */
  id: string;
}

/** The headers and error pages of one real intermediary. */
export interface Fingerprint {
  /** Headers set on the request sent upstream (besides `x-forwarded-for`). */
  request(ctx: FingerprintContext): Array<[string, string]>;
  /** Headers set on every response sent to the client. */
  response(ctx: FingerprintContext, elapsedMs: number): Array<[string, string]>;
  /** Response headers from the upstream this intermediary does not pass on (lowercase). */
  hide: readonly string[];
  /** The intermediary's own error response (timeouts, unreachable upstream, refusals). */
  errorPage(status: number, ctx: FingerprintContext): ErrorPage;
}

/** An error response made by the hop itself. */
export interface ErrorPage {
  headers: Array<[string, string]>;
  body: string;
}

// Cloudflare's own statuses have no standard reason phrase; these are the ones it sends.
const EXTRA_REASONS: Record<number, string> = {
  520: 'Web Server Returned an Unknown Error',
  521: 'Web Server Is Down',
  522: 'Connection Timed Out',
  523: 'Origin Is Unreachable',
  524: 'A timeout occurred',
};

/** The reason phrase a hop sends with its own error status. */
export const reason = (status: number): string =>
  STATUS_CODES[status] ?? EXTRA_REASONS[status] ?? 'Error';
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** The nginx-style HTML error page (nginx, ALB and ingress use the same shape). */
function nginxPage(status: number, server: string | null): string {
  const title = `${status} ${status === 504 ? 'Gateway Time-out' : reason(status)}`;
  const footer = server === null ? '' : `<hr><center>${server}</center>\r\n`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n${footer}</body>\r\n</html>\r\n`;
}

const html: [string, string] = ['content-type', 'text/html'];
const text: [string, string] = ['content-type', 'text/plain'];

const generic: Fingerprint = {
  request: () => [],
  response: () => [],
  hide: [],
  errorPage: (status) => ({ headers: [text], body: `${status} ${reason(status)}\n` }),
};

const envoyBodies: Record<number, string> = {
  503: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
  504: 'upstream request timeout',
};

const cfRay = (ctx: FingerprintContext): string => `${ctx.id.slice(0, 16)}-SJC`;

/** Fingerprints by name (the names of the presets that use them). */
export const fingerprints: Readonly<Record<string, Fingerprint>> = {
  cloudflare: {
    request: (ctx) => [
      ['cf-connecting-ip', ctx.clientAddress],
      ['cf-ray', cfRay(ctx)],
      ['cf-ipcountry', 'XX'],
      ['cf-visitor', '{"scheme":"https"}'],
      ['cdn-loop', 'cloudflare'],
      ['x-forwarded-proto', 'https'],
    ],
    response: (ctx) => [
      ['server', 'cloudflare'],
      ['cf-ray', cfRay(ctx)],
      ['cf-cache-status', 'DYNAMIC'],
    ],
    hide: ['server'],
    errorPage: (status, ctx) => ({
      headers: [
        ['content-type', 'text/html; charset=UTF-8'],
        ['server', 'cloudflare'],
        ['cf-ray', cfRay(ctx)],
      ],
      body: `<!DOCTYPE html>\n<html><head><title>${status === 524 ? 'A timeout occurred' : reason(status)} | Cloudflare</title></head><body><h1>${status === 524 ? 'A timeout occurred' : reason(status)}</h1><span>Error code ${status}</span><p>Ray ID: ${cfRay(ctx)}</p></body></html>\n`,
    }),
  },
  'aws-alb': {
    request: (ctx) => [
      [
        'x-amzn-trace-id',
        `Root=1-${Math.floor(ctx.startedAt / 1000).toString(16)}-${ctx.id.slice(0, 24)}`,
      ],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-port', '80'],
    ],
    response: () => [],
    hide: [],
    errorPage: (status) => ({
      headers: [['server', 'awselb/2.0'], html],
      body: nginxPage(status, null),
    }),
  },
  envoy: {
    request: (ctx) => [
      ['x-request-id', randomUUID()],
      ['x-forwarded-proto', 'http'],
      ...(ctx.totalMs === null
        ? []
        : [
            ['x-envoy-expected-rq-timeout-ms', String(Math.round(ctx.totalMs))] as [string, string],
          ]),
    ],
    response: (_ctx, elapsedMs) => [
      ['server', 'envoy'],
      ['x-envoy-upstream-service-time', String(Math.round(elapsedMs))],
    ],
    hide: ['server'],
    errorPage: (status) => ({
      headers: [['server', 'envoy'], text],
      body: envoyBodies[status] ?? reason(status),
    }),
  },
  nginx: {
    request: () => [],
    response: () => [['server', 'nginx']],
    // [nginx docs, proxy_hide_header] "By default, nginx does not pass the header fields
    // Date, Server, X-Pad, and X-Accel-... from the response of a proxied server".
    hide: ['server', 'x-pad', 'x-accel-buffering', 'x-accel-redirect', 'x-accel-limit-rate'],
    errorPage: (status) => ({
      headers: [['server', 'nginx'], html],
      body: nginxPage(status, 'nginx'),
    }),
  },
  haproxy: {
    request: () => [],
    response: () => [],
    hide: [],
    errorPage: (status) => ({
      headers: [
        ['cache-control', 'no-cache'],
        ['content-type', 'text/html'],
      ],
      body: `<html><body><h1>${status} ${status === 504 ? 'Gateway Time-out' : reason(status)}</h1>\n${
        status === 504
          ? "The server didn't respond in time."
          : status === 503
            ? 'No server is available to handle this request.'
            : 'The server returned an invalid or incomplete response.'
      }\n</body></html>\n`,
    }),
  },
  heroku: {
    request: (ctx) => [
      ['x-request-id', randomUUID()],
      ['x-request-start', String(ctx.startedAt)],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-port', '443'],
      ['via', '1.1 vegur'],
    ],
    response: () => [['via', '1.1 vegur']],
    hide: [],
    errorPage: () => ({
      headers: [['server', 'Cowboy'], html],
      body: '<!DOCTYPE html><html><head><title>Application Error</title></head><body><iframe src="//www.herokucdn.com/error-pages/application-error.html"></iframe></body></html>',
    }),
  },
  'gcp-lb': {
    request: (ctx) => [
      ['x-cloud-trace-context', `${ctx.id.slice(0, 32)}/1;o=1`],
      ['via', '1.1 google'],
      ['x-forwarded-proto', 'https'],
    ],
    response: () => [['via', '1.1 google']],
    hide: [],
    errorPage: (status) => ({ headers: [text, ['via', '1.1 google']], body: reason(status) }),
  },
  'cloud-run': {
    request: (ctx) => [
      ['x-cloud-trace-context', `${ctx.id.slice(0, 32)}/1;o=1`],
      ['traceparent', `00-${ctx.id.slice(0, 32)}-${ctx.id.slice(0, 16)}-01`],
      ['x-forwarded-proto', 'https'],
    ],
    response: () => [['server', 'Google Frontend']],
    hide: ['server'],
    errorPage: (status) => ({
      headers: [html, ['server', 'Google Frontend']],
      body: `<html><head><title>${status} ${reason(status)}</title></head><body><h1>Error: ${reason(status)}</h1><h2>upstream request timeout</h2></body></html>\n`,
    }),
  },
  'api-gateway': {
    request: (ctx) => [['x-amzn-trace-id', `Root=1-${ctx.id.slice(0, 8)}-${ctx.id.slice(0, 24)}`]],
    response: (ctx) => [
      ['x-amzn-requestid', randomUUID()],
      ['x-amz-apigw-id', ctx.id.slice(0, 16)],
    ],
    hide: [],
    errorPage: (status) => ({
      headers: [
        ['content-type', 'application/json'],
        [
          'x-amzn-errortype',
          status === 504 ? 'IntegrationTimeout' : 'InternalServerErrorException',
        ],
      ],
      body:
        status === 504
          ? '{"message": "Endpoint request timed out"}'
          : '{"message": "Internal server error"}',
    }),
  },
  cloudfront: {
    request: (ctx) => [
      ['x-amz-cf-id', ctx.id.slice(0, 40)],
      ['via', `1.1 ${ctx.id.slice(0, 32)}.cloudfront.net (CloudFront)`],
      ['cloudfront-forwarded-proto', 'https'],
    ],
    response: (ctx) => [
      ['via', `1.1 ${ctx.id.slice(0, 32)}.cloudfront.net (CloudFront)`],
      ['x-amz-cf-id', ctx.id.slice(0, 40)],
      ['x-amz-cf-pop', 'SFO53-C1'],
      ['x-cache', 'Miss from cloudfront'],
    ],
    hide: [],
    errorPage: (status, ctx) => ({
      headers: [html, ['x-cache', 'Error from cloudfront'], ['x-amz-cf-id', ctx.id.slice(0, 40)]],
      body: `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"><HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>${status} ERROR</H1><H2>The request could not be satisfied.</H2></BODY></HTML>\n`,
    }),
  },
  'azure-front-door': {
    request: (ctx) => [
      ['x-azure-fdid', ctx.id.slice(0, 32)],
      ['x-azure-clientip', ctx.clientAddress],
      ['x-forwarded-proto', 'https'],
    ],
    response: (ctx) => [
      ['x-azure-ref', `0${ctx.id.slice(0, 40)}`],
      ['x-cache', 'CONFIG_NOCACHE'],
    ],
    hide: [],
    errorPage: (status, ctx) => ({
      headers: [html, ['x-azure-ref', `0${ctx.id.slice(0, 40)}`]],
      body: `<html><body><h2>Our services aren't available right now</h2><p>${status} ${reason(status)}</p></body></html>\n`,
    }),
  },
  'corporate-av': {
    request: () => [['via', '1.1 corporate-proxy']],
    response: () => [['via', '1.1 corporate-proxy']],
    hide: [],
    errorPage: (status) => ({ headers: [html], body: nginxPage(status, null) }),
  },
  ...productFingerprints,
};

/** The fingerprint of a name, or the generic one for `null`. */
export function getFingerprint(name: string | null): Fingerprint {
  return (name === null ? undefined : fingerprints[name]) ?? generic;
}

/** A fresh per-exchange id: 40 hex characters. */
export function newExchangeId(): string {
  return hex(20);
}
