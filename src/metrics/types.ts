/** How a connection ended. */
export type EndReason =
  | 'client-closed'
  | 'rotation'
  | 'backpressure'
  | 'error'
  | 'end'
  | 'shutdown';

/** The transports a stream is read through. */
export type TransportName = 'sse' | 'ws' | 'poll';

/**
 * What the server reports. `createMetrics()` implements it with `prom-client`; pass your own
 * implementation to feed another metrics system. Calls are on hot paths: keep them cheap.
 */
export interface ServerMetrics {
  connectionOpened(transport: TransportName): void;
  connectionClosed(transport: TransportName, reason: EndReason, durationMs: number): void;
  resume(outcome: 'fresh' | 'recovered' | 'gap', reason: string | null): void;
  heartbeats(transport: TransportName, count: number): void;
  published(count: number): void;
  job(state: 'started' | 'succeeded' | 'failed' | 'cancelled'): void;
  clientReport(cause: string, transport: string): void;
  rejected(reason: string): void;
}

/** A {@link ServerMetrics} that records nothing. */
export const noMetrics: ServerMetrics = {
  connectionOpened() {},
  connectionClosed() {},
  resume() {},
  heartbeats() {},
  published() {},
  job() {},
  clientReport() {},
  rejected() {},
};
