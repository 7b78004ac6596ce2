import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EndReason, ServerMetrics, TransportName } from './types.js';

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /**
   * Registry the metrics are registered in. Default: a registry of their own, so they never
   * collide with the application's default registry.
   */
  registry?: Registry;
  /**
   * Prefix of every metric name.
   * @default 'outlast_'
   */
  prefix?: string;
  /**
   * Buckets of the connection duration histogram, in seconds.
   * @default [1, 5, 15, 30, 60, 120, 300, 900, 3600]
   */
  durationBuckets?: number[];
}

/** Default options of {@link createMetrics}. */
export const metricsDefaults = {
  prefix: 'outlast_',
  durationBuckets: [1, 5, 15, 30, 60, 120, 300, 900, 3600],
} as const;

/** The server's metrics in a `prom-client` registry, plus handlers that expose them. */
export interface PrometheusMetrics extends ServerMetrics {
  readonly registry: Registry;
  /** A Node `(req, res)` handler answering with the text exposition format. */
  nodeHandler(req: IncomingMessage, res: ServerResponse): void;
  /** A fetch-style handler answering with the text exposition format. */
  fetch(request?: Request): Promise<Response>;
}

/**
 * Creates the server metrics (names in `docs/server.md`); pass the result as the server's
 * `metrics` option and mount `nodeHandler` or `fetch` where your scraper reads.
 */
export function createMetrics(options: MetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  const p = options.prefix ?? metricsDefaults.prefix;
  const registers = [registry];
  const connections = new Gauge({
    name: `${p}connections`,
    help: 'Open connections reading a stream, by transport',
    labelNames: ['transport'],
    registers,
  });
  const duration = new Histogram({
    name: `${p}connection_duration_seconds`,
    help: 'How long connections lasted, by transport and end reason',
    labelNames: ['transport', 'reason'],
    buckets: options.durationBuckets ?? [...metricsDefaults.durationBuckets],
    registers,
  });
  const disconnects = new Counter({
    name: `${p}disconnects_total`,
    help: 'Connections ended, by transport and reason (client-closed, rotation, backpressure, error, end, shutdown)',
    labelNames: ['transport', 'reason'],
    registers,
  });
  const resumes = new Counter({
    name: `${p}resumes_total`,
    help: 'Stream reads by resume outcome (fresh, recovered, gap) and gap reason',
    labelNames: ['outcome', 'reason'],
    registers,
  });
  const heartbeats = new Counter({
    name: `${p}heartbeats_sent_total`,
    help: 'Heartbeats sent, by transport',
    labelNames: ['transport'],
    registers,
  });
  const published = new Counter({
    name: `${p}events_published_total`,
    help: 'Events appended to streams through this server',
    registers,
  });
  const jobs = new Counter({
    name: `${p}jobs_total`,
    help: 'Jobs by state reached (started, succeeded, failed, cancelled)',
    labelNames: ['state'],
    registers,
  });
  const running = new Gauge({
    name: `${p}jobs_running`,
    help: 'Jobs running now in this process',
    registers,
  });
  const reports = new Counter({
    name: `${p}client_disconnects_total`,
    help: 'Connection losses reported by clients (POST {base}/reports), by cause and transport',
    labelNames: ['cause', 'transport'],
    registers,
  });
  const rejected = new Counter({
    name: `${p}rejected_total`,
    help: 'Requests refused, by reason (too-many-connections, overloaded, unauthorized, forbidden, bad-query, ...)',
    labelNames: ['reason'],
    registers,
  });
  // Bound children are looked up once: `labels()` hashes its arguments on every call.
  const hbChildren = new Map<TransportName, ReturnType<typeof heartbeats.labels>>();

  const metrics: PrometheusMetrics = {
    registry,
    connectionOpened(transport) {
      connections.labels(transport).inc();
    },
    connectionClosed(transport: TransportName, reason: EndReason, durationMs: number) {
      connections.labels(transport).dec();
      duration.labels(transport, reason).observe(durationMs / 1000);
      disconnects.labels(transport, reason).inc();
    },
    resume(outcome, reason) {
      resumes.labels(outcome, reason ?? '').inc();
    },
    heartbeats(transport, count) {
      let child = hbChildren.get(transport);
      if (child === undefined) {
        child = heartbeats.labels(transport);
        hbChildren.set(transport, child);
      }
      child.inc(count);
    },
    published(count) {
      published.inc(count);
    },
    job(state) {
      jobs.labels(state).inc();
      if (state === 'started') running.inc();
      else running.dec();
    },
    clientReport(cause, transport) {
      reports.labels(cause, transport).inc();
    },
    rejected(reason) {
      rejected.labels(reason).inc();
    },
    nodeHandler(_req, res) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (error: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(error));
        },
      );
    },
    async fetch() {
      return new Response(await registry.metrics(), {
        headers: { 'content-type': registry.contentType },
      });
    },
  };
  return metrics;
}
