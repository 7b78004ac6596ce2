import type { OutlastError } from '../errors.js';
import type { CutCause, CutReport } from './causes.js';
import type { Lesson } from './learn.js';
import type { PathProfile } from './profile.js';
import type { GapInfo, TransportName } from './transport.js';

/** A user event, delivered once, in order. */
export interface ClientEvent {
  /** Its id (`null` when a plain SSE server sent none). */
  id: string | null;
  /** Its type (`message` by default). */
  type: string;
  /** Its data string (JSON from outlast servers when the payload was not a string). */
  data: string;
  /** The transport it came over. */
  transport: TransportName;
  /**
   * [spec] The last event id at this event's dispatch: its own `id:`, or the one that persists
   * from an earlier event when it has none; `null` after an empty `id:` reset it.
   */
  lastEventId: string | null;
}

/** `comment`: a comment line of the stream (heartbeats included). */
export interface CommentNotice {
  /** The comment without its colon and one leading space (`hb 1733097600000` for heartbeats). */
  text: string;
  transport: TransportName;
}

/** `open`: a connection opened. */
export interface OpenNotice {
  transport: TransportName;
  /** `fresh`, `recovered`, `gap`; `null` from a plain SSE server. */
  resume: string | null;
  heartbeatMs: number | null;
  maxStreamMs: number | null;
  /** Connections opened so far by this client, this one included. */
  connections: number;
}

/** `reconnecting`: the client will reconnect after `delayMs`. */
export interface ReconnectNotice {
  cause: CutCause;
  transport: TransportName;
  delayMs: number;
  /** Failed connections in a row (0 after a rotation or a healthy connection). */
  attempt: number;
}

/** `transport`: the client moved to another transport. */
export interface TransportNotice {
  from: TransportName;
  to: TransportName;
  reason: string;
}

/** `end`: the stream ended. */
export interface EndNotice {
  lastEventId: string | null;
  /** A job's result (from its final event, or fetched when that was missed). */
  result?: unknown;
  /** A job's failure: a `JobFailedError` (`job-failed`, `job-cancelled`, `job-lost`, `job-interrupted`). */
  error?: OutlastError;
}

/** `learn`: the path profile changed. */
export interface LearnNotice extends Lesson {
  profile: PathProfile;
}

/** Every listener type of a connection and what it receives. */
export interface ConnectionEvents {
  open: OpenNotice;
  event: ClientEvent;
  comment: CommentNotice;
  gap: GapInfo;
  reconnecting: ReconnectNotice;
  transport: TransportNotice;
  cut: CutReport;
  learn: LearnNotice;
  end: EndNotice;
  error: OutlastError;
}
