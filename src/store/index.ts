/**
 * `outlast/store`: where streams and job records live. The {@link Store} interface, the
 * in-memory default, and the id helpers every store shares.
 * @packageDocumentation
 */
export { formatEventId, newEpoch, parseEventId } from './ids.js';
export {
  createMemoryStore,
  type MemoryStore,
  type MemoryStoreOptions,
  memoryStoreDefaults,
} from './memory.js';
export type {
  EventInput,
  GapInfo,
  GapReason,
  JobRecord,
  JobState,
  ReadResult,
  ResumeOutcome,
  Store,
  StoredEvent,
  StoreListener,
  StreamInfo,
  Unsubscribe,
} from './types.js';
