/**
 * `outlast/metrics`: the server's metrics with `prom-client` in a registry of their own, and
 * handlers to expose them. Names and labels are listed in `docs/server.md`.
 * @packageDocumentation
 */
export {
  createMetrics,
  type MetricsOptions,
  metricsDefaults,
  type PrometheusMetrics,
} from './prometheus.js';
export { type EndReason, noMetrics, type ServerMetrics, type TransportName } from './types.js';
