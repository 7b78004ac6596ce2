/** An event to send. */
export interface SseEventInit {
  /**
   * The event id. Becomes the client's last event id (sent back as `Last-Event-ID` on
   * reconnect). Must not contain CR, LF or NUL. An empty string resets the client's last id.
   */
  id?: string;
  /** The event type (`event:` field). Default on the client side: `message`. No CR or LF. */
  event?: string;
  /**
   * The payload. A string is sent as is (split into one `data:` line per line); any other
   * value is serialised with `JSON.stringify`. Omitted: no `data:` line, so the block only
   * updates `id`/`retry` and dispatches nothing.
   */
  data?: unknown;
  /** Reconnection time hint in milliseconds (`retry:` field): a non-negative integer. */
  retry?: number;
}

/** An event as dispatched by the parser, following the WHATWG dispatch steps. */
export interface SseEvent {
  /** The event type: the last `event:` value of the block, or `message`. */
  type: string;
  /** The data buffer, lines joined with LF, without the trailing LF. */
  data: string;
  /**
   * The stream's last event id at dispatch time. It persists across events: a block without
   * `id:` keeps the previous value.
   */
  lastEventId: string;
  /** The `id:` value set inside this very block, if any (`undefined` otherwise). */
  id: string | undefined;
}
