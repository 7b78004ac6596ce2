import { type CutReport, reportBody } from './causes.js';
import type { Clock } from './options.js';
import type { FetchLike } from './transport.js';

/** Most reports per request (the server's default `maxReportsPerRequest`). */
const MAX_PER_REQUEST = 100;

/**
 * Batches cut reports to `POST {base}/reports`, best effort: a failed post is dropped, never
 * retried, never surfaced (reports must not add load to a path that is already failing).
 */
export class ReportBatcher {
  private queue: CutReport[] = [];
  private timer: unknown = null;

  constructor(
    private readonly url: string,
    private readonly delayMs: number,
    private readonly fetch: FetchLike,
    private readonly headers: () => Promise<Record<string, string>>,
    private readonly clock: Clock,
  ) {}

  add(report: CutReport): void {
    this.queue.push(report);
    if (this.queue.length >= MAX_PER_REQUEST) this.flush();
    else if (this.timer === null) {
      this.timer = this.clock.setTimeout(() => this.flush(), this.delayMs);
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_PER_REQUEST);
      const body = JSON.stringify({ reports: batch.map(reportBody) });
      this.headers()
        .then((headers) =>
          this.fetch(this.url, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body,
            // A page being closed still delivers its last reports.
            keepalive: body.length < 60_000,
          }),
        )
        .then((res) => res.body?.cancel().catch(() => {}))
        .catch(() => {});
    }
  }
}
