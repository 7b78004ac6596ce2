/**
 * `outlast/server`: resumable streams and long-running jobs over SSE, WebSocket and
 * long-polling, with one log per stream. See `docs/server.md` and `docs/protocol.md`.
 * @packageDocumentation
 */
export {
  type DrainOptions,
  type DrainReport,
  drainDefaults,
  type ServerStats,
} from './core.js';
export { type HardenOptions, hardenDefaults, hardenServer } from './harden.js';
export type {
  JobContext,
  JobFunction,
  JobHandle,
  JobHandler,
  StartJobOptions,
} from './jobs.js';
export { JobError, newJobId } from './jobs.js';
export type { NodeHandler } from './node.js';
export {
  type AuthorizeAction,
  type AuthorizeDecision,
  type CorsOptions,
  type ServerOptions,
  serverDefaults,
} from './options.js';
export { createOutlast, type Outlast, type PublishInput } from './outlast.js';
export { reportCauses } from './reports.js';
export { TimerWheel, type WheelEntry } from './scheduler.js';
export {
  type AttachWebSocketOptions,
  attachWebSocket,
  attachWebSocketDefaults,
} from './ws.js';
