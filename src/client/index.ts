/**
 * `outlast/client`: one `connect()` that survives every network path (SSE over fetch,
 * WebSocket, long-polling), never loses or duplicates an event, tells why each connection
 * died, and learns the path. Runs in browsers (no Node built-ins) and Node >= 20.
 * See `docs/client.md`.
 * @packageDocumentation
 */
export { Backoff, type BackoffSettings } from './backoff.js';
export { type CutCause, type CutReport, classifyClose } from './causes.js';
export { type Connection, connect, transportFactories } from './connect.js';
export { type JobErrorInfo, JobFailedError } from './job.js';
export {
  type LearnSettings,
  type Lesson,
  learnDefaults,
  learnFromCut,
  nextTransport,
} from './learn.js';
export { type Clock, type ConnectOptions, clientDefaults, realClock } from './options.js';
export {
  defaultProfileStore,
  emptyProfile,
  expireLessons,
  fileProfileStore,
  getPathProfile,
  type LessonKey,
  memoryProfileStore,
  type PathProfile,
  type ProfileStore,
  resetPathProfile,
  type StorageLike,
  sharedMemoryProfiles,
  storageProfileStore,
  upgradeProfile,
} from './profile.js';
export type {
  CloseInfo,
  FetchLike,
  GapInfo,
  OpenInfo,
  Transport,
  TransportContext,
  TransportFactory,
  TransportHandlers,
  TransportName,
  WebSocketLike,
  WireEvent,
} from './transport.js';
export type {
  ClientEvent,
  CommentNotice,
  ConnectionEvents,
  EndNotice,
  LearnNotice,
  OpenNotice,
  ReconnectNotice,
  TransportNotice,
} from './types.js';
