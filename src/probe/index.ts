/**
 * `outlast/probe`: measure a path's limits (idle, total and first-byte clocks, silent drops,
 * buffering, WebSocket and long-poll behaviour), name the intermediary behind each, and say
 * how to fix it. The probe endpoints to mount in an app or run standalone, the probe engine,
 * the config snippets and the HTML report. See `docs/probe.md`.
 * @packageDocumentation
 */
export {
  type ConfigOptions,
  type ConfigTarget,
  configDefaults,
  configTargets,
  renderConfig,
} from './config/snippets.js';
export type {
  ProbeOptions,
  ProbeProgress,
  ProbeTransport,
  WsConstructor,
} from './engine/options.js';
export { probeDefaults } from './engine/options.js';
export { runProbe } from './engine/run.js';
export type {
  ConfigSnippet,
  Cut,
  ExperimentRecord,
  Intermediary,
  ProbeReport,
  Symptom,
} from './engine/types.js';
export { createProbeHandler, type ProbeHandler } from './server/handler.js';
export type { ProbeNodeHandler } from './server/node.js';
export {
  type ProbeServerOptions,
  probeServerDefaults,
} from './server/options.js';
export {
  type RunningProbeServer,
  type StandaloneProbeOptions,
  startProbeServer,
} from './server/standalone.js';
