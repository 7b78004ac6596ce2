import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Google Cloud and Microsoft Azure load balancers and front doors. */
export const clouds: readonly KnownProduct[] = [
  {
    id: 'gcp-lb',
    name: 'Google Cloud external Application Load Balancer',
    family: 'clouds',
    sources: [
      'https://cloud.google.com/load-balancing/docs/backend-service#timeout-setting',
      'https://cloud.google.com/load-balancing/docs/https#target-proxies',
      'https://cloud.google.com/load-balancing/docs/https/custom-headers',
    ],
    response: [['via', /1\.1 google/i]],
    // x-cloud-trace-context alone is no evidence: Cloud Run sets it too.
    request: [],
    via: /^1\.1 google$/i,
    errorBody: [/failed_to_pick_backend/],
    clocks: [
      {
        setting: 'backend service timeoutSec',
        defaultMs: 30 * S,
        limits: [L.firstByte, L.total, L.wsTotal],
        granularityMs: S,
        status: 504,
        where:
          'the backend service (gcloud compute backend-services update --timeout); also the WebSocket lifetime',
        fix: (ms) => `gcloud compute backend-services update BACKEND --timeout=${secs(ms)}s`,
      },
    ],
  },
  {
    id: 'cloud-run',
    name: 'Google Cloud Run',
    family: 'clouds',
    sources: [
      'https://cloud.google.com/run/docs/configuring/request-timeout',
      'https://cloud.google.com/run/docs/triggering/websockets',
    ],
    response: [['server', /^Google Frontend$/i]],
    request: [['traceparent', /./]],
    // Its 504 page (Google Frontend in front of the container): "upstream request timeout"
    // in a heading; Envoy's plain-text page says the same words alone.
    errorBody: [/<h2>upstream request timeout<\/h2>/],
    clocks: [
      {
        setting: 'request timeout (--timeout)',
        defaultMs: 300 * S,
        limits: [L.firstByte, L.total, L.wsTotal],
        granularityMs: S,
        status: 504,
        where: 'the Cloud Run service (gcloud run services update --timeout, up to 3600 s)',
        fix: (ms) => `gcloud run services update SERVICE --timeout=${secs(ms)}`,
      },
    ],
  },
  {
    id: 'azure-app-gateway',
    name: 'Azure Application Gateway',
    family: 'clouds',
    sources: [
      'https://learn.microsoft.com/en-us/azure/application-gateway/configuration-http-settings#request-timeout',
      'https://learn.microsoft.com/en-us/azure/application-gateway/how-application-gateway-works#modifications-to-the-request',
    ],
    response: [],
    request: [
      ['x-original-host', /./],
      ['x-appgw-trace-id', /./],
    ],
    errorBody: [/Microsoft-Azure-Application-Gateway/],
    errorHeaders: [['server', /^Microsoft-Azure-Application-Gateway/]],
    clocks: [
      {
        setting: 'backend settings request timeout',
        defaultMs: 20 * S,
        limits: [L.firstByte, L.idle],
        granularityMs: S,
        status: 504,
        where: 'the backend settings (HTTP settings) of the rule, 1-86400 s',
        fix: (ms) =>
          `az network application-gateway http-settings update --timeout ${secs(ms)} ...`,
      },
    ],
    note: 'whether the request timeout also bounds a busy stream is not documented (unconfirmed)',
  },
  {
    id: 'azure-front-door',
    name: 'Azure Front Door',
    family: 'clouds',
    sources: [
      'https://learn.microsoft.com/en-us/azure/frontdoor/front-door-faq#what-are-the-various-timeouts-and-limits-for-azure-front-door',
      'https://learn.microsoft.com/en-us/azure/frontdoor/front-door-http-headers-protocol',
    ],
    response: [['x-azure-ref', /./]],
    request: [
      ['x-azure-fdid', /./],
      ['x-azure-clientip', /./],
      ['x-azure-socketip', /./],
    ],
    errorBody: [/aren't available right now/],
    clocks: [
      {
        setting: 'origin response timeout (originResponseTimeoutSeconds)',
        defaultMs: 30 * S,
        limits: [L.firstByte, L.total],
        granularityMs: S,
        status: 504,
        where: 'the Front Door profile (16-240 s)',
        fix: (ms) =>
          `az afd profile update --origin-response-timeout-seconds ${Math.min(240, secs(ms))} ...`,
      },
    ],
    note: "Standard/Premium document 60 s, classic 30 s; the probe's preset follows the facts table (30 s)",
  },
];
