/**
 * `outlast/proxy`: an HTTP-aware chaos proxy that reproduces real intermediaries (Cloudflare,
 * ALB, Service Connect, nginx, HAProxy...): idle, total and first-byte clocks that answer
 * 504/524/502/503 before headers and cut after, buffering, WebSocket policies, fingerprint
 * headers and faults, one real listener per hop, with a time scale and a control API.
 * @packageDocumentation
 */
export { type ClockKind, type ClockSettings, ExchangeClocks } from './clocks.js';
export type { ControlServer } from './control.js';
export { type Fingerprint, fingerprints } from './fingerprints.js';
export type { Hop, HopInfo } from './hop.js';
export type { HopStats } from './hop-runtime.js';
export { type HopKnobs, hopDefaults, type KnobSpec, knobSpecs, validateKnobs } from './knobs.js';
export {
  type HopSpec,
  type ProxyOptions,
  proxyDefaults,
  resolveHops,
} from './options.js';
export { getPreset, type Preset, parsePresetList, presetNames, presets } from './presets.js';
export { type ChaosProxy, createProxy } from './proxy.js';
export { realTimers, type Timers } from './timers.js';
