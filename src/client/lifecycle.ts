/** The structural `EventTarget` the page watcher needs (`window`, `document`). */
export interface EventTargetLike {
  addEventListener(type: string, listener: (event: unknown) => void): void;
  removeEventListener(type: string, listener: (event: unknown) => void): void;
}

/**
 * Where page-lifecycle events come from: `online` and `pageshow` on `window`,
 * `visibilitychange` on `document` (read with its `visibilityState`). Injectable, so Node
 * tests can drive it with plain `EventTarget`s.
 */
export interface PageLifecycle {
  window?: EventTargetLike | null;
  document?: (EventTargetLike & { readonly visibilityState?: string }) | null;
}

/** The page's `window` and `document`, or nothing outside a page. */
export function pageLifecycle(): PageLifecycle | null {
  const g = globalThis as { window?: EventTargetLike; document?: PageLifecycle['document'] };
  const win = typeof g.window?.addEventListener === 'function' ? g.window : null;
  const doc = typeof g.document?.addEventListener === 'function' ? g.document : null;
  return win === null && doc === null ? null : { window: win, document: doc };
}

/** Why the page woke a waiting reconnect. */
export type WakeReason = 'online' | 'visible' | 'pageshow';

/**
 * Calls `wake` when the page is back: the network came `online`, the tab became visible, or
 * the page was shown again (`pageshow`, a restore from the back/forward cache). Mobile
 * browsers and background tabs throttle timers and drop connections while hidden or offline:
 * a reconnect waiting on its backoff then runs at once instead of minutes later.
 * Returns the function that stops watching.
 */
export function watchPage(page: PageLifecycle | null, wake: (reason: WakeReason) => void) {
  if (page === null) return () => {};
  const win = page.window ?? null;
  const doc = page.document ?? null;
  const online = () => wake('online');
  const shown = () => wake('pageshow');
  const visibility = () => {
    if (doc?.visibilityState === 'visible') wake('visible');
  };
  win?.addEventListener('online', online);
  win?.addEventListener('pageshow', shown);
  doc?.addEventListener('visibilitychange', visibility);
  return () => {
    win?.removeEventListener('online', online);
    win?.removeEventListener('pageshow', shown);
    doc?.removeEventListener('visibilitychange', visibility);
  };
}
