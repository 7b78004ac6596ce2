/**
 * What the probe knows about real intermediaries: how to recognise each from the headers it
 * adds (both ways) and its error pages, which clocks it has, and which config snippet fixes
 * it. From the facts table (`docs/probe.md` mirrors the rows used here).
 */
export interface KnownIntermediary {
  /** Stable id, also the `outlast config --for` target when it has a snippet. */
  id: string;
  /** Human name, as reported in `intermediaries[].name`. */
  name: string;
  /** Response header tests: header name and a value pattern. */
  response: Array<[string, RegExp]>;
  /** Request header tests (what the probe server's echo saw). */
  request: Array<[string, RegExp]>;
  /** Error page body patterns (answers before headers). */
  body: RegExp[];
  /** Error statuses only this one sends. */
  statuses?: number[];
  /** Its clocks at their defaults, ms (time scale 1): which kinds of cut it makes. */
  clocks: { idle?: number; total?: number; firstByte?: number };
  /** `outlast config --for` target that raises its limits, if any. */
  config: string | null;
}

const S = 1000;

export const knownIntermediaries: readonly KnownIntermediary[] = [
  {
    id: 'cloudflare',
    name: 'Cloudflare',
    response: [
      ['server', /^cloudflare$/i],
      ['cf-ray', /./],
    ],
    request: [
      ['cf-ray', /./],
      ['cf-connecting-ip', /./],
      ['cdn-loop', /cloudflare/i],
    ],
    body: [/A timeout occurred/i, /\| Cloudflare/],
    statuses: [524],
    clocks: { idle: 100 * S, firstByte: 100 * S },
    config: 'cloudflare',
  },
  {
    id: 'api-gateway',
    name: 'AWS API Gateway',
    response: [
      ['x-amzn-requestid', /./],
      ['x-amz-apigw-id', /./],
      ['x-amzn-errortype', /./],
    ],
    request: [],
    body: [/Endpoint request timed out/],
    clocks: { total: 29 * S },
    config: null,
  },
  {
    id: 'aws-alb',
    name: 'AWS Application Load Balancer',
    response: [['server', /^awselb/i]],
    request: [['x-amzn-trace-id', /^Root=1-/]],
    body: [],
    clocks: { idle: 60 * S },
    config: 'alb-terraform',
  },
  {
    id: 'envoy',
    name: 'Envoy (AWS ECS Service Connect)',
    response: [
      ['server', /^envoy$/i],
      ['x-envoy-upstream-service-time', /./],
    ],
    request: [
      ['x-envoy-expected-rq-timeout-ms', /^\d+$/],
      ['x-envoy-attempt-count', /./],
    ],
    body: [/upstream request timeout/, /upstream connect error/],
    clocks: { total: 15 * S, idle: 300 * S },
    config: 'service-connect',
  },
  {
    id: 'heroku',
    name: 'Heroku router',
    response: [['via', /vegur/i]],
    request: [
      ['via', /vegur/i],
      ['x-request-start', /^\d+$/],
    ],
    body: [/herokucdn\.com\/error-pages/],
    clocks: { idle: 55 * S, firstByte: 30 * S },
    config: null,
  },
  {
    id: 'cloudfront',
    name: 'Amazon CloudFront',
    response: [
      ['x-amz-cf-id', /./],
      ['via', /cloudfront\.net/i],
    ],
    request: [['x-amz-cf-id', /./]],
    body: [/The request could not be satisfied/],
    clocks: { idle: 30 * S, firstByte: 30 * S },
    config: null,
  },
  {
    id: 'cloud-run',
    name: 'Google Cloud Run',
    response: [['server', /^Google Frontend$/i]],
    request: [['traceparent', /./]],
    body: [],
    clocks: { total: 300 * S },
    config: null,
  },
  {
    id: 'gcp-lb',
    name: 'Google Cloud external HTTP(S) Load Balancer',
    response: [['via', /1\.1 google/i]],
    request: [
      ['via', /1\.1 google/i],
      ['x-cloud-trace-context', /./],
    ],
    body: [],
    clocks: { total: 30 * S },
    config: null,
  },
  {
    id: 'azure-front-door',
    name: 'Azure Front Door',
    response: [['x-azure-ref', /./]],
    request: [['x-azure-fdid', /./]],
    body: [/aren't available right now/],
    clocks: { total: 30 * S, firstByte: 30 * S },
    config: null,
  },
  {
    id: 'nginx',
    name: 'nginx',
    response: [['server', /^nginx/i]],
    request: [],
    body: [/<center>nginx[^<]*<\/center>/],
    clocks: { idle: 60 * S },
    config: 'nginx',
  },
  {
    id: 'haproxy',
    name: 'HAProxy',
    response: [],
    request: [],
    body: [
      /The server didn't respond in time\./,
      /No server is available to handle this request\./,
    ],
    clocks: { idle: 50 * S },
    config: 'haproxy',
  },
  {
    id: 'corporate-proxy',
    name: 'A proxy announcing itself in Via',
    response: [['via', /^(?!.*(google|vegur|cloudfront)).+/i]],
    request: [],
    body: [],
    clocks: {},
    config: null,
  },
];
