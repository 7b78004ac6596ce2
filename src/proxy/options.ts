import { OutlastError } from '../errors.js';
import { type HopKnobs, hopDefaults, mergeKnobs, validateKnobs } from './knobs.js';
import { getPreset, parsePresetList } from './presets.js';
import type { Timers } from './timers.js';

/** One hop of a chain, when hops are given one by one. */
export interface HopSpec {
  /**
   * Preset to start from; none: a transparent hop ({@link hopDefaults}), named `custom`.
   * @default undefined
   */
  preset?: string;
  /**
   * Knobs over the preset.
   * @default {}
   */
  knobs?: Partial<HopKnobs>;
}

/** Options of {@link createProxy}. Only `target` is required. */
export interface ProxyOptions {
  /** Where the last hop forwards to: `http://host:port` (or https), optionally with a path prefix. */
  target: string | URL;
  /**
   * Address the first hop listens on. The other hops of a chain always listen on 127.0.0.1.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port of the first hop; 0 picks a free one.
   * @default 0
   */
  port?: number;
  /**
   * Preset, or a comma list (or array) of presets making a chain, client side first:
   * `cloudflare,aws-alb,aws-service-connect`. Null with no `hops`: one transparent hop.
   * @default null
   */
  preset?: string | readonly string[] | null;
  /**
   * Hops one by one (instead of `preset`), client side first: a preset name or a
   * {@link HopSpec}.
   * @default undefined
   */
  hops?: ReadonlyArray<string | HopSpec>;
  /**
   * Knobs applied over every hop (after its preset).
   * @default {}
   */
  knobs?: Partial<HopKnobs>;
  /**
   * Multiplies every duration of every hop: 0.01 makes a 15 s clock fire at 150 ms.
   * Bandwidth is a rate, not a duration: it is not scaled.
   * @default 1
   */
  timeScale?: number;
  /**
   * The control API (GET/PUT knobs per hop as JSON): `true` for 127.0.0.1 on a free port, or
   * where to listen. `false`: none (the returned object still changes knobs).
   * @default false
   */
  control?: boolean | { host?: string; port?: number };
  /**
   * Timers and clock, injectable for tests.
   * @default realTimers
   */
  timers?: Timers;
}

/** Defaults of {@link ProxyOptions}. */
export const proxyDefaults = {
  host: '127.0.0.1',
  port: 0,
  preset: null,
  knobs: {},
  timeScale: 1,
  control: false,
} as const;

/** A hop resolved from the options: its name and complete knobs. */
export interface ResolvedHop {
  name: string;
  knobs: HopKnobs;
}

/**
 * Checks a time scale.
 * @throws {OutlastError} `invalid-option` unless a finite number > 0.
 */
export function checkTimeScale(scale: unknown): number {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new OutlastError(
      'invalid-option',
      `timeScale ${JSON.stringify(scale)} is invalid; expected a number > 0 (0.01 makes 15 s fire at 150 ms)`,
    );
  }
  return scale;
}

/**
 * Checks a target URL.
 * @throws {OutlastError} `invalid-option` unless an http(s) URL.
 */
export function checkTarget(target: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(target));
  } catch {
    throw new OutlastError(
      'invalid-option',
      `target "${String(target)}" is not a URL; expected http://host:port`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutlastError(
      'invalid-option',
      `target "${url.href}" must be http:// or https://, not ${url.protocol}`,
    );
  }
  return url;
}

/** Turns the options into the list of hops, client side first, with their final knobs. */
export function resolveHops(options: ProxyOptions): ResolvedHop[] {
  const extra = validateKnobs(options.knobs ?? {});
  const specs: HopSpec[] = [];
  if (options.hops !== undefined && options.hops.length > 0) {
    for (const h of options.hops) specs.push(typeof h === 'string' ? { preset: h } : h);
  } else if (options.preset !== undefined && options.preset !== null) {
    const list = typeof options.preset === 'string' ? options.preset : options.preset.join(',');
    for (const p of parsePresetList(list)) specs.push({ preset: p.name });
  } else {
    specs.push({});
  }
  return specs.map((spec) => {
    const base = spec.preset === undefined ? {} : getPreset(spec.preset).knobs;
    const own = validateKnobs(spec.knobs ?? {});
    return {
      name: spec.preset ?? 'custom',
      knobs: mergeKnobs(hopDefaults, base, own, extra),
    };
  });
}
