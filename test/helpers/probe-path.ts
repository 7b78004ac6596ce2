import { afterAll, beforeAll } from 'vitest';
import { type RunningProbeServer, startProbeServer } from '../../src/probe/server/standalone.js';
import { type ChaosProxy, createProxy } from '../../src/proxy/index.js';

/** A probe server behind a simulated path, started before the file's tests, closed after. */
export interface ProbePath {
  readonly probe: RunningProbeServer;
  readonly proxy: ChaosProxy;
}

/** Registers beforeAll/afterAll hooks that run a probe server behind `preset` at `timeScale`. */
export function useProbePath(preset: string, timeScale: number): ProbePath {
  let probe: RunningProbeServer | undefined;
  let proxy: ChaosProxy | undefined;
  beforeAll(async () => {
    probe = await startProbeServer({ maxRequestsPerMinute: 100_000 });
    proxy = await createProxy({
      target: probe.url.replace(/\/outlast-probe$/, ''),
      preset,
      timeScale,
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await probe?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useProbePath: read inside a test, after beforeAll');
    return value;
  };
  return {
    get probe() {
      return started(probe);
    },
    get proxy() {
      return started(proxy);
    },
  };
}
