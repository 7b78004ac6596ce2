import { OutlastError } from '../../src/errors.js';
import type { Store } from '../../src/store/types.js';

/*
 * A store wrapper that injects faults at chosen calls: a call can fail (as an unreachable
 * store does, `store-unavailable`) or pause before it reaches the store. Every other call
 * passes through untouched.
 */

/** What to do with one call: fail it, pause it first, or let it through (`null`). */
export type Fault = { fail: true } | { pauseMs: number } | null;

/** A fault plan: called for each call of an async store method, with its 1-based count. */
export type FaultPlan = (method: string, nth: number, args: unknown[]) => Fault;

export interface FaultyStore {
  store: Store;
  /** Replaces the plan. */
  plan(plan: FaultPlan): void;
  /** Calls seen so far, by method. */
  readonly calls: Record<string, number>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Wraps `inner`; faults follow the plan (none at first). */
export function faultyStore(inner: Store): FaultyStore {
  let plan: FaultPlan = () => null;
  const calls: Record<string, number> = {};
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function' || typeof name !== 'string') return value;
      // Synchronous registrations pass straight through.
      if (['onCancel', 'onFenced', 'abandonJob', 'clear'].includes(name)) return value.bind(target);
      return async (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1;
        const fault = plan(name, calls[name]!, args);
        if (fault !== null && 'pauseMs' in fault) await sleep(fault.pauseMs);
        if (fault !== null && 'fail' in fault) {
          throw new OutlastError('store-unavailable', `injected failure of ${name}`);
        }
        return value.apply(target, args);
      };
    },
  });
  return {
    store,
    plan(next) {
      plan = next;
    },
    calls,
  };
}
