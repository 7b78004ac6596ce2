import { OutlastError } from '../errors.js';
import { type ControlServer, startControl } from './control.js';
import { Hop, type HopInfo } from './hop.js';
import type { HopKnobs } from './knobs.js';
import {
  checkTarget,
  checkTimeScale,
  type ProxyOptions,
  proxyDefaults,
  resolveHops,
} from './options.js';
import { realTimers } from './timers.js';

/** A running proxy: one hop, or a chain of hops in series on loopback. */
export interface ChaosProxy {
  /** `http://host:port` of the first hop: point clients here. */
  readonly url: string;
  /** `http://host:port` of the control API, or null when it is off. */
  readonly controlUrl: string | null;
  /** The hops, client side first. */
  readonly hops: readonly Hop[];
  /** The time scale (every hop's durations are multiplied by it); settable at runtime. */
  timeScale: number;
  /**
   * Changes knobs of one hop (index or name) or, without `hop`, of every hop. New requests
   * use them; faults (latency, bandwidth, slicing) apply at once.
   * @throws {OutlastError} `unknown-hop`, `unknown-knob`, `invalid-option`.
   */
  set(knobs: Partial<HopKnobs>, hop?: number | string): void;
  /** Finds a hop by index or name. @throws {OutlastError} `unknown-hop`. */
  hop(which: number | string): Hop;
  /** Snapshot of every hop: knobs and counters. */
  info(): { timeScale: number; url: string; hops: HopInfo[] };
  /** Stops every listener and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a proxy in front of `options.target`: one real listener per hop, in series, each
 * with its own clocks on its own connections. Resolves once every hop listens.
 *
 * @example
 * const proxy = await createProxy({
 *   target: 'http://127.0.0.1:8080',
 *   preset: 'cloudflare,aws-alb,aws-service-connect',
 *   timeScale: 0.01,
 * });
 * // proxy.url: SSE through it dies at 150 ms (Service Connect's 15 s), WebSockets live on.
 */
export async function createProxy(options: ProxyOptions): Promise<ChaosProxy> {
  const target = checkTarget(options.target);
  let timeScale = checkTimeScale(options.timeScale ?? proxyDefaults.timeScale);
  const resolved = resolveHops(options);
  const timers = options.timers ?? realTimers;
  const scale = (): number => timeScale;
  const hops: Hop[] = [];
  let control: ControlServer | null = null;
  try {
    // Listen from the target side: each hop forwards to the one after it.
    let next = target;
    for (let i = resolved.length - 1; i >= 0; i--) {
      const r = resolved[i]!;
      const first = i === 0;
      const hop = new Hop({
        name: r.name,
        knobs: r.knobs,
        target: next,
        host: first ? (options.host ?? proxyDefaults.host) : '127.0.0.1',
        port: first ? (options.port ?? proxyDefaults.port) : 0,
        timers,
        scale,
      });
      hops.unshift(hop);
      await hop.listen();
      next = new URL(hop.url);
    }
  } catch (error) {
    await Promise.all(hops.map((h) => h.close()));
    throw error;
  }

  const find = (which: number | string): Hop => {
    const hop =
      typeof which === 'number' || /^\d+$/.test(which)
        ? hops[Number(which)]
        : hops.find((h) => h.name === which);
    if (hop === undefined) {
      throw new OutlastError(
        'unknown-hop',
        `no hop "${which}"; hops: ${hops.map((h, i) => `${i} (${h.name})`).join(', ')}`,
      );
    }
    return hop;
  };

  let closing: Promise<void> | null = null;
  const proxy: ChaosProxy = {
    url: hops[0]!.url,
    get controlUrl() {
      return control?.url ?? null;
    },
    hops,
    get timeScale() {
      return timeScale;
    },
    set timeScale(value: number) {
      timeScale = checkTimeScale(value);
    },
    set(knobs, which) {
      if (which === undefined) {
        for (const h of hops) h.set(knobs);
      } else find(which).set(knobs);
    },
    hop: find,
    info: () => ({ timeScale, url: hops[0]!.url, hops: hops.map((h, i) => h.info(i)) }),
    close() {
      closing ??= (async () => {
        await control?.close();
        await Promise.all(hops.map((h) => h.close()));
      })();
      return closing;
    },
  };
  if (options.control !== undefined && options.control !== false) {
    const where = options.control === true ? {} : options.control;
    try {
      control = await startControl(proxy, where.host ?? '127.0.0.1', where.port ?? 0);
    } catch (error) {
      await proxy.close();
      throw error;
    }
  }
  return proxy;
}
