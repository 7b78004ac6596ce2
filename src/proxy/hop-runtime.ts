import type { Agent } from 'node:http';
import type { Socket } from 'node:net';
import type { ClockKind } from './clocks.js';
import type { HopKnobs } from './knobs.js';
import type { Timers } from './timers.js';

/** Counters of one hop, as the control API shows them. */
export interface HopStats {
  /** Client connections accepted since start. */
  connections: number;
  /** Client connections open now (WebSocket tunnels included). */
  openConnections: number;
  /** Connections reset at accept by `refuseConnections`. */
  refusedConnections: number;
  /** HTTP requests received (upgrades excluded). */
  requests: number;
  /** Requests whose response is still in progress. */
  activeExchanges: number;
  /** WebSocket (upgrade) requests received. */
  tunnels: number;
  /** WebSocket tunnels open now. */
  activeTunnels: number;
  /** Exchanges ended by each clock or fault. */
  cuts: Record<ClockKind | 'reset' | 'write-deadline', number>;
  /** Upstream failures (unreachable, died mid-response). */
  upstreamErrors: number;
  /** Malformed requests answered 400. */
  badRequests: number;
  /** Response bytes received from the upstream. */
  bytesUp: number;
}

/** A fresh set of counters. */
export function newHopStats(): HopStats {
  return {
    connections: 0,
    openConnections: 0,
    refusedConnections: 0,
    requests: 0,
    activeExchanges: 0,
    tunnels: 0,
    activeTunnels: 0,
    cuts: { idle: 0, total: 0, 'first-byte': 0, reset: 0, 'write-deadline': 0 },
    upstreamErrors: 0,
    badRequests: 0,
    bytesUp: 0,
  };
}

/** What an exchange or a tunnel needs from its hop. */
export interface HopRuntime {
  /** The knobs right now (replaced as a whole on every change). */
  readonly knobs: Readonly<HopKnobs>;
  /** The proxy's time scale right now. */
  scale(): number;
  readonly timers: Timers;
  /** Where this hop forwards to (the next hop or the target). */
  readonly target: URL;
  /** Keep-alive agent for upstream connections. */
  readonly agent: Agent;
  readonly stats: HopStats;
  /** Registers a socket the hop must destroy when it closes (upgraded upstream sockets). */
  track(socket: Socket): void;
}
