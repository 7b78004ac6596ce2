import { type KnownProduct, L, secs } from './types.js';

const S = 1000;

/** Amazon Web Services: ALB, NLB, API Gateway, CloudFront (Service Connect is Envoy, balancers.ts). */
export const aws: readonly KnownProduct[] = [
  {
    id: 'api-gateway',
    name: 'AWS API Gateway',
    family: 'aws',
    sources: [
      'https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html',
      'https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-quotas.html',
    ],
    response: [
      ['x-amzn-requestid', /./],
      ['x-amz-apigw-id', /./],
    ],
    request: [],
    errorBody: [/Endpoint request timed out/],
    errorHeaders: [['x-amzn-errortype', /./]],
    clocks: [
      {
        setting: 'integration timeout (timeoutInMillis)',
        defaultMs: 29 * S,
        limits: [L.firstByte, L.total],
        granularityMs: 1,
        status: 504,
        where: "the method's integration (REST: up to 29 s unless the quota is raised)",
        fix: (ms) =>
          `timeoutInMillis: ${Math.ceil(ms)} (raise the quota past 29 s, or stream over another path)`,
      },
      {
        setting: 'WebSocket API idle connection timeout',
        defaultMs: 10 * 60 * S,
        limits: [L.wsIdle],
        granularityMs: S,
        where: 'fixed quota (10 min idle, 2 h per connection)',
        fix: () => 'not configurable: heartbeat under 10 min, reconnect before 2 h',
      },
    ],
  },
  {
    id: 'aws-alb',
    name: 'AWS Application Load Balancer',
    family: 'aws',
    sources: [
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout',
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html',
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-request-tracing.html',
    ],
    response: [],
    request: [['x-amzn-trace-id', /^(Self=[^;]+;)?Root=1-/]],
    errorBody: [],
    errorHeaders: [['server', /^awselb/i]],
    clocks: [
      {
        setting: 'idle_timeout.timeout_seconds',
        defaultMs: 60 * S,
        limits: [L.firstByte, L.idle, L.wsIdle],
        granularityMs: S,
        status: 504,
        where: 'the load balancer attributes (1-4000 s)',
        fix: (ms) => `idle_timeout.timeout_seconds = ${secs(ms)}`,
      },
    ],
    config: 'alb-terraform',
  },
  {
    id: 'aws-nlb',
    name: 'AWS Network Load Balancer',
    family: 'aws',
    sources: [
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#connection-idle-timeout',
    ],
    response: [],
    request: [],
    errorBody: [],
    clocks: [
      {
        setting: 'tcp.idle_timeout.seconds',
        defaultMs: 350 * S,
        limits: [L.idle, L.wsIdle],
        granularityMs: S,
        where: 'the listener attributes (60-6000 s); a silent drop, then a reset on the next send',
        fix: (ms) => `tcp.idle_timeout.seconds = ${secs(ms)}`,
      },
    ],
    note: 'layer 4: adds no header; shows only as a silent drop',
  },
  {
    id: 'cloudfront',
    name: 'Amazon CloudFront',
    family: 'aws',
    sources: [
      'https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html#DownloadDistValuesOriginResponseTimeout',
      'https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/adding-cloudfront-headers.html',
      'https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/distribution-working-with.websockets.html',
    ],
    response: [
      ['x-amz-cf-id', /./],
      ['x-amz-cf-pop', /./],
      ['x-cache', /cloudfront/i],
    ],
    request: [['x-amz-cf-id', /./]],
    via: /\.cloudfront\.net \(CloudFront\)/i,
    errorBody: [/The request could not be satisfied/],
    clocks: [
      {
        setting: 'origin response timeout (OriginReadTimeout)',
        defaultMs: 30 * S,
        limits: [L.firstByte, L.idle],
        granularityMs: S,
        status: 504,
        where: "the distribution's origin settings (1-60 s, up to 180 s by quota)",
        fix: (ms) => `OriginReadTimeout: ${secs(ms)}`,
      },
      {
        setting: 'WebSocket idle (10 min, fixed)',
        defaultMs: 10 * 60 * S,
        limits: [L.wsIdle],
        granularityMs: S,
        where: 'not configurable',
        fix: () => 'not configurable: heartbeat under 10 min',
      },
    ],
  },
];
