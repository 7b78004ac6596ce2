/**
 * outlast: long-running HTTP work that reaches its user, whatever sits in the network path.
 * Each capability has its own entry point (`outlast/wire`, ...); this root re-exports the
 * shared error type.
 * @packageDocumentation
 */
export { isOutlastError, OutlastError, type OutlastErrorCode } from './errors.js';
