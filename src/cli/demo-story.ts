/**
 * How late the progress reached the user: each page's arrival against its publication.
 * The demo narrates from this, so a run where nothing showed until the end says so.
 */
export interface Lateness {
  /** Pages compared (arrived and published). */
  pages: number;
  /** Median lateness, ms. */
  medianMs: number;
  /** Worst lateness, ms, and its page (1 first). */
  worstMs: number;
  worstPage: number;
  /** Every page arrived only once the last one had been published: nothing showed before. */
  nothingUntilEnd: boolean;
}

/**
 * Compares arrival and publication times (same clock, by page).
 * @returns `null` when no page both arrived and was published.
 */
export function measureLateness(
  published: readonly number[],
  arrivals: readonly number[],
): Lateness | null {
  const n = Math.min(published.length, arrivals.length);
  if (n === 0) return null;
  const late: number[] = [];
  for (let i = 0; i < n; i++) late.push(Math.max(0, arrivals[i]! - published[i]!));
  const sorted = [...late].sort((a, b) => a - b);
  let worstPage = 1;
  for (let i = 1; i < n; i++) if (late[i]! > late[worstPage - 1]!) worstPage = i + 1;
  const lastPublished = published[published.length - 1]!;
  return {
    pages: n,
    medianMs: sorted[Math.floor((n - 1) / 2)]!,
    worstMs: late[worstPage - 1]!,
    worstPage,
    nothingUntilEnd: n > 1 && arrivals[0]! >= lastPublished,
  };
}

/**
 * One sentence on the lateness, with durations through `t` (here and in production).
 * `pageMs` is the time between two pages: lateness under a tenth of it is "on time".
 */
export function describeLateness(
  l: Lateness | null,
  pageMs: number,
  t: (ms: number) => string,
): string {
  if (l === null) return 'no progress event arrived';
  if (l.nothingUntilEnd) {
    return `the user saw nothing until the end: every page arrived only once the last was ready, page ${l.worstPage} ${t(l.worstMs)} late`;
  }
  if (l.worstMs <= Math.max(50, pageMs / 10)) {
    return `every page arrived on time (worst ${t(l.worstMs)} after it was ready)`;
  }
  return `pages arrived late: page ${l.worstPage} ${t(l.worstMs)} after it was ready (median ${t(l.medianMs)})`;
}
