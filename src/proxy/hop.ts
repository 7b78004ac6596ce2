import { Agent, createServer, type Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { OutlastError } from '../errors.js';
import { handleExchange } from './exchange.js';
import { getFingerprint } from './fingerprints.js';
import { type HopRuntime, type HopStats, newHopStats } from './hop-runtime.js';
import { rawResponse } from './http.js';
import { type HopKnobs, mergeKnobs, validateKnobs } from './knobs.js';
import type { Timers } from './timers.js';
import { handleUpgrade } from './websocket.js';

/** What a hop is made from. */
export interface HopInit {
  /** Name shown by the control API: the preset name, or `custom`. */
  name: string;
  /** The knobs it starts with (and returns to on reset). */
  knobs: HopKnobs;
  /** Where it forwards to. */
  target: URL;
  /** Address to listen on. */
  host: string;
  /** Port to listen on (0: a free one). */
  port: number;
  /** Timers and clock. */
  timers: Timers;
  /** The proxy's time scale right now. */
  scale: () => number;
}

/** A snapshot of a hop for the control API and `proxy.hops`. */
export interface HopInfo {
  /** Position in the chain, 0 on the client side. */
  index: number;
  /** Preset name, or `custom`. */
  name: string;
  /** `http://host:port` this hop listens on. */
  url: string;
  /** Where it forwards to. */
  target: string;
  /** Its knobs now (durations at time scale 1). */
  knobs: HopKnobs;
  /** Its counters. */
  stats: HopStats;
}

/**
 * One intermediary: a real HTTP/1.1 listener that forwards to its target with its own clocks,
 * buffering, WebSocket policy, fingerprint and faults.
 */
export class Hop implements HopRuntime {
  /** The knobs now; replaced as a whole by {@link Hop.set} and {@link Hop.reset}. */
  knobs: Readonly<HopKnobs>;
  readonly name: string;
  readonly target: URL;
  readonly timers: Timers;
  readonly stats: HopStats = newHopStats();
  readonly agent: Agent;
  private readonly initial: HopKnobs;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly init: HopInit;
  private address: AddressInfo | null = null;

  constructor(init: HopInit) {
    this.init = init;
    this.name = init.name;
    this.target = init.target;
    this.timers = init.timers;
    this.initial = init.knobs;
    this.knobs = Object.freeze({ ...init.knobs });
    this.agent =
      init.target.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true })
        : new Agent({ keepAlive: true });
    this.server = createServer({ requestTimeout: 0, noDelay: true, keepAlive: true });
    this.server.on('connection', (socket) => this.onConnection(socket));
    this.server.on('request', (req, res) => handleExchange(this, req, res));
    this.server.on('upgrade', (req, socket: Socket, head: Buffer) =>
      handleUpgrade(this, req, socket, head),
    );
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.destroyed || !socket.writable || error.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      // A malformed request: 400, as nginx and HAProxy answer (431 for oversized heads).
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      this.stats.badRequests++;
      const page = getFingerprint(this.knobs.fingerprint).errorPage(status, {
        clientAddress: '',
        startedAt: Date.now(),
        totalMs: null,
        id: '0'.repeat(40),
      });
      socket.end(rawResponse(status, page.headers, page.body));
    });
  }

  /** The time scale of the proxy this hop belongs to. */
  scale(): number {
    return this.init.scale();
  }

  /** Starts listening. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(
          new OutlastError(
            'proxy-listen-failed',
            `hop ${this.name} cannot listen on ${this.init.host}:${this.init.port}: ${error.message}; pick a free port or port 0`,
            { cause: error },
          ),
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.init.port, this.init.host, () => {
        this.server.off('error', onError);
        this.address = this.server.address() as AddressInfo;
        resolve();
      });
    });
  }

  /** `http://host:port` of the listener. */
  get url(): string {
    if (this.address === null) throw new OutlastError('proxy-closed', 'the hop is not listening');
    const host =
      this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}`;
  }

  /** The port it listens on. */
  get port(): number {
    return this.address?.port ?? 0;
  }

  /**
   * Changes knobs; takes effect for new requests (faults: at once).
   * @throws {OutlastError} `unknown-knob` or `invalid-option`.
   */
  set(partial: Partial<HopKnobs>): HopKnobs {
    validateKnobs(partial);
    this.knobs = Object.freeze(mergeKnobs(this.knobs, partial));
    return { ...this.knobs };
  }

  /** Back to the knobs it started with. */
  reset(): HopKnobs {
    this.knobs = Object.freeze({ ...this.initial });
    return { ...this.knobs };
  }

  /** A snapshot for the control API. */
  info(index: number): HopInfo {
    this.stats.openConnections = this.sockets.size;
    return {
      index,
      name: this.name,
      url: this.url,
      target: this.target.href,
      knobs: { ...this.knobs },
      stats: structuredClone(this.stats),
    };
  }

  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Stops listening and destroys every connection, both sides. Idempotent. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await closed;
  }

  private onConnection(socket: Socket): void {
    this.stats.connections++;
    if (this.knobs.refuseConnections) {
      this.stats.refusedConnections++;
      socket.on('error', () => {});
      socket.resetAndDestroy();
      return;
    }
    socket.setNoDelay(true);
    this.track(socket);
  }
}
