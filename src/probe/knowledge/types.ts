/**
 * What the probe knows about one intermediary product: how it shows itself on the wire,
 * which clocks it has (setting names, defaults, what each clock can cut) and how to raise
 * them. Every entry cites the documents its facts come from (`sources`); "unconfirmed" in a
 * note means only third parties say so. Measured facts (`docs/intermediaries-measured.md`)
 * win over documents.
 */

/** The limits the probe measures (the `--json` contract's `limits` paths). */
export type LimitKey =
  | 'sse.firstByteMs'
  | 'sse.idleMs'
  | 'sse.totalMs'
  | 'websocket.idleMs'
  | 'websocket.totalMs';

/** A header test: name (lower case) and a value pattern. */
export type HeaderTest = [string, RegExp];

/** One clock of a product. */
export interface KnownClock {
  /** The setting, as the product names it (`proxy_read_timeout`, `timeout server`). */
  setting: string;
  /** Its default, ms; null: off unless set. */
  defaultMs: number | null;
  /** The limits this one setting can produce (one clock often bounds several). */
  limits: readonly LimitKey[];
  /** The smallest step it counts in, ms (1000 for whole seconds; checks once a second). */
  granularityMs: number;
  /** Status it answers when it fires before the response headers, if it answers at all. */
  status?: number;
  /** Where the setting goes. */
  where: string;
  /** The line that raises it to `ms` (the fix). */
  fix(ms: number): string;
}

/** One intermediary product. */
export interface KnownProduct {
  /** Stable id (also `outlast config --for` when `config` is set). */
  id: string;
  /** Human name, as reported. */
  name: string;
  /** The family file it lives in (cdn, aws, envoy...). */
  family: string;
  /** Documentation URLs the facts come from. */
  sources: readonly string[];
  /** Response headers it adds (or sets) on every response. */
  response: readonly HeaderTest[];
  /** Request headers it adds or rewrites on the way to the origin. */
  request: readonly HeaderTest[];
  /** The pattern of its own entry in a `Via` header (request or response). */
  via?: RegExp;
  /** Its error pages (bodies) and the statuses only it sends. */
  errorBody: readonly RegExp[];
  errorHeaders?: readonly HeaderTest[];
  statuses?: readonly number[];
  /** Its clocks. */
  clocks: readonly KnownClock[];
  /** Answers `OPTIONS`/`TRACE` itself when `Max-Forwards: 0` reaches it (RFC 9110 7.6.2). */
  maxForwards?: boolean;
  /**
   * Replaces `X-Forwarded-For` instead of appending to it (untrusted clients' values are
   * dropped): the hops in front of it are not counted from that header.
   */
  resetsForwardedFor?: boolean;
  /** `outlast config --for` target with a snippet, if any. */
  config?: string;
  /** What is uncertain about the entry. */
  note?: string;
}

const S = 1000;

/** Duration in the unit a config takes: `90s`, `1500ms`. */
export function durationText(ms: number, unit: 'ms' | 's' | 'go' = 's'): string {
  if (unit === 'ms') return `${Math.round(ms)}`;
  if (unit === 'go') return ms % S === 0 ? `${ms / S}s` : `${Math.round(ms)}ms`;
  return `${Math.max(1, Math.ceil(ms / S))}`;
}

/** Whole seconds, rounded up (a fix never lands below what is needed). */
export const secs = (ms: number): number => Math.max(1, Math.ceil(ms / S));

/** Short names of the limits, for the tables. */
export const L = {
  firstByte: 'sse.firstByteMs',
  idle: 'sse.idleMs',
  total: 'sse.totalMs',
  wsIdle: 'websocket.idleMs',
  wsTotal: 'websocket.totalMs',
} as const satisfies Record<string, LimitKey>;
