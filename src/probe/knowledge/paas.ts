import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Hosting platforms whose router sits in front of the app: Heroku, Fly.io, Vercel, Netlify. */
export const paas: readonly KnownProduct[] = [
  {
    id: 'heroku',
    name: 'Heroku router',
    family: 'paas',
    sources: [
      'https://devcenter.heroku.com/articles/request-timeout',
      'https://devcenter.heroku.com/articles/http-routing#heroku-headers',
      'https://devcenter.heroku.com/articles/error-codes#h12-request-timeout',
    ],
    response: [['via', /vegur|heroku-router/i]],
    request: [
      ['x-request-start', /^\d+$/],
      ['x-request-id', /./],
    ],
    via: /vegur|heroku-router/i,
    errorBody: [/herokucdn\.com\/error-pages/],
    clocks: [
      {
        setting: 'router 30 s to first byte (H12)',
        defaultMs: 30 * S,
        limits: [L.firstByte],
        granularityMs: S,
        status: 503,
        where: 'fixed by the platform',
        fix: () => 'not configurable: send the headers (and a first byte) within 30 s',
      },
      {
        setting: 'router 55 s rolling window (H15)',
        defaultMs: 55 * S,
        limits: [L.idle, L.wsIdle],
        granularityMs: S,
        where: 'fixed by the platform',
        fix: () => 'not configurable: heartbeat under 55 s',
      },
    ],
  },
  {
    id: 'fly',
    name: 'Fly.io proxy',
    family: 'paas',
    sources: [
      'https://fly.io/docs/networking/request-headers/',
      'https://fly.io/docs/reference/configuration/#http_service-http_options',
      'https://community.fly.io/t/60-second-timeout-for-http-server/1243',
    ],
    response: [
      ['fly-request-id', /./],
      ['server', /^Fly\//],
    ],
    request: [
      ['fly-client-ip', /./],
      ['fly-forwarded-port', /./],
      ['fly-region', /./],
      ['fly-request-id', /./],
    ],
    via: /fly\.io/i,
    errorBody: [],
    clocks: [
      {
        setting: 'proxy idle timeout (60 s)',
        defaultMs: 60 * S,
        limits: [L.idle, L.wsIdle],
        granularityMs: S,
        where: 'fixed by the platform (community reports; unconfirmed in the docs)',
        fix: () => 'not configurable: heartbeat under 60 s',
      },
    ],
  },
  {
    id: 'vercel',
    name: 'Vercel',
    family: 'paas',
    sources: [
      'https://vercel.com/docs/headers/request-headers',
      'https://vercel.com/docs/headers/response-headers',
      'https://vercel.com/docs/functions/configuring-functions/duration',
      'https://vercel.com/docs/errors/FUNCTION_INVOCATION_TIMEOUT',
    ],
    response: [
      ['x-vercel-id', /./],
      ['x-vercel-cache', /./],
      ['server', /^Vercel$/i],
    ],
    request: [
      ['x-vercel-id', /./],
      ['x-vercel-forwarded-for', /./],
      ['x-vercel-deployment-url', /./],
    ],
    errorBody: [/FUNCTION_INVOCATION_TIMEOUT/, /An error occurred with your deployment/],
    errorHeaders: [['x-vercel-error', /./]],
    clocks: [
      {
        setting: 'function maxDuration',
        defaultMs: 300 * S,
        limits: [L.firstByte, L.total],
        granularityMs: S,
        status: 504,
        where: 'vercel.json functions.{path}.maxDuration, or export const maxDuration in the route',
        fix: (ms) => `export const maxDuration = ${secs(ms)};`,
      },
    ],
    note: 'the default depends on the plan and on fluid compute (10-300 s)',
  },
  {
    id: 'netlify',
    name: 'Netlify',
    family: 'paas',
    sources: [
      'https://docs.netlify.com/functions/overview/#default-deployment-options',
      'https://docs.netlify.com/routing/redirects/rewrites-proxies/',
    ],
    response: [
      ['x-nf-request-id', /./],
      ['server', /^Netlify$/i],
    ],
    request: [
      ['x-nf-request-id', /./],
      ['x-nf-client-connection-ip', /./],
    ],
    errorBody: [/Netlify/],
    clocks: [
      {
        setting: 'synchronous function timeout',
        defaultMs: 10 * S,
        limits: [L.firstByte, L.total],
        granularityMs: S,
        status: 504,
        where: 'Netlify site settings (up to 26 s on request); proxied rewrites are bounded too',
        fix: () => 'ask Netlify to raise it (26 s max), or use a background or edge function',
      },
    ],
  },
];
