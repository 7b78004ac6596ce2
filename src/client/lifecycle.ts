/** The structural `EventTarget` the page watcher needs (`window`, `document`). */
export interface EventTargetLike {
  addEventListener(type: string, listener: (event: unknown) => void): void;
  removeEventListener(type: string, listener: (event: unknown) => void): void;
}

/**
 * Where page-lifecycle events come from: `online`, `pagehide` and `pageshow` on `window`,
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

/** A running page watcher. */
export interface PageWatch {
  /** The connection was lost (a cut): remembered when the page is hidden at that moment. */
  lost(): void;
  /** Stops watching. */
  stop(): void;
}

/**
 * Calls `wake` when the page is back, so that a reconnect waiting on its backoff runs at once
 * instead of minutes later (mobile browsers and background tabs throttle or freeze timers and
 * drop connections while hidden or offline):
 * - `online`: the network came back;
 * - `visibilitychange` to `visible`: the tab is shown again;
 * - `pageshow`, only when the connection was lost while the page was hidden (after
 *   `visibilitychange` to `hidden` or `pagehide`, until it is shown again) or the page comes
 *   back from the back/forward cache (`event.persisted`: its timers were frozen). The
 *   `pageshow` of a page load is not a reason to cut a backoff short.
 * `wake` runs only a reconnect that waits: a connection that is up is never torn down here.
 */
export function watchPage(
  page: PageLifecycle | null,
  wake: (reason: WakeReason) => void,
): PageWatch {
  if (page === null) return { lost: () => {}, stop: () => {} };
  const win = page.window ?? null;
  const doc = page.document ?? null;
  let hidden = doc?.visibilityState === 'hidden';
  let lostWhileHidden = false;
  const online = () => wake('online');
  const hide = () => {
    hidden = true;
  };
  const shown = (event: unknown) => {
    const persisted = (event as { persisted?: unknown } | null)?.persisted === true;
    const lostHidden = lostWhileHidden;
    hidden = doc?.visibilityState === 'hidden';
    lostWhileHidden = false;
    if (persisted || lostHidden) wake('pageshow');
  };
  const visibility = () => {
    if (doc?.visibilityState === 'hidden') hidden = true;
    else if (doc?.visibilityState === 'visible') {
      hidden = false;
      lostWhileHidden = false;
      wake('visible');
    }
  };
  win?.addEventListener('online', online);
  win?.addEventListener('pagehide', hide);
  win?.addEventListener('pageshow', shown);
  doc?.addEventListener('visibilitychange', visibility);
  return {
    lost: () => {
      if (hidden) lostWhileHidden = true;
    },
    stop: () => {
      win?.removeEventListener('online', online);
      win?.removeEventListener('pagehide', hide);
      win?.removeEventListener('pageshow', shown);
      doc?.removeEventListener('visibilitychange', visibility);
    },
  };
}
