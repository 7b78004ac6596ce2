/** The outlast routes around a stream URL (docs/protocol.md, "Paths"). */
export interface StreamRoutes {
  /** `{base}/reports`, or `null` when the URL is not an outlast stream route. */
  reports: string | null;
  /** `{base}/jobs/{id}` when the URL is a job's stream, else `null`. */
  result: string | null;
}

const ROUTE = /^(.*)\/(streams|jobs)\/([^/]+)(\/events)?\/?$/;

/** Finds the reports and job-result URLs that go with a stream URL. */
export function streamRoutes(streamUrl: string): StreamRoutes {
  const u = new URL(streamUrl);
  const m = ROUTE.exec(u.pathname);
  if (m === null) return { reports: null, result: null };
  const [, base, kind, id, events] = m;
  const isJob = kind === 'jobs' && events !== undefined;
  if (kind === 'jobs' && !isJob) return { reports: null, result: null };
  return {
    reports: `${u.origin}${base}/reports`,
    result: isJob ? `${u.origin}${base}/jobs/${id}` : null,
  };
}
