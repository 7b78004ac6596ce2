/**
 * Lets the process exit while the timer `handle` is pending, on the runtimes that have that
 * notion: Node and Bun (`handle.unref()`), Deno (`Deno.unrefTimer(id)`). Browsers and Workers
 * return numbers and have no such notion: nothing to do there.
 */
export function unrefTimer<T>(handle: T): T {
  if (typeof handle === 'object' && handle !== null) {
    (handle as { unref?: () => void }).unref?.();
  } else if (typeof handle === 'number') {
    (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno?.unrefTimer?.(handle);
  }
  return handle;
}
