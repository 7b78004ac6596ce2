/**
 * Every error outlast raises or reports carries a stable, machine-readable `code`.
 * The full list, with what each means and what to do, is in `docs/errors.md`.
 */
export type OutlastErrorCode =
  // wire
  | 'invalid-field'
  | 'invalid-retry'
  | 'max-line-bytes-exceeded'
  | 'max-event-bytes-exceeded'
  // store
  | 'store-full'
  | 'store-closed'
  | 'stream-ended'
  | 'store-unavailable'
  // server
  | 'unknown-stream'
  | 'unknown-job'
  | 'unknown-route'
  | 'bad-query'
  | 'bad-request'
  | 'bad-frame'
  | 'unauthorized'
  | 'forbidden'
  | 'request-too-large'
  | 'too-many-connections'
  | 'too-many-address-connections'
  | 'too-many-identity-connections'
  | 'address-limit-behind-proxy'
  | 'overloaded'
  | 'reserved-event-type'
  | 'job-failed'
  | 'job-cancelled'
  | 'job-lost'
  | 'job-interrupted'
  | 'unsupported-media-type'
  | 'draining'
  | 'job-result-unencodable'
  // proxy
  | 'unknown-preset'
  | 'unknown-knob'
  | 'unknown-hop'
  | 'proxy-listen-failed'
  | 'proxy-closed'
  // probe
  | 'probe-unreachable'
  | 'probe-unauthorized'
  | 'not-a-probe-server'
  // client
  | 'client-closed'
  | 'unexpected-response'
  | 'max-retries-exceeded'
  | 'invalid-url'
  | 'job-start-failed'
  | 'stream-interrupted'
  | 'max-queued-events-exceeded'
  // generic misuse
  | 'invalid-option';

/** Base error for everything outlast throws or reports. */
export class OutlastError<C extends string = OutlastErrorCode> extends Error {
  override readonly name: string = 'OutlastError';
  /** Stable code: switch on this, not on the message. */
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Narrow an unknown value to an {@link OutlastError}, optionally of one code. */
export function isOutlastError<C extends string = OutlastErrorCode>(
  value: unknown,
  code?: C,
): value is OutlastError<C> {
  return value instanceof OutlastError && (code === undefined || value.code === code);
}
