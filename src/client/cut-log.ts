import type { CutReport } from './causes.js';
import type { Emitter } from './emitter.js';
import type { ReportBatcher } from './reports.js';
import type { ConnectionEvents } from './types.js';

/** The most cuts kept for learning. */
const HISTORY = 20;

/**
 * Where every lost connection goes: the `cut` event, the batched report to an outlast
 * server, and the recent history the learning rules compare against.
 */
export class CutLog {
  /** Recent cuts, newest last. */
  readonly history: CutReport[] = [];

  constructor(
    private readonly emitter: Emitter<ConnectionEvents>,
    private readonly reports: ReportBatcher | null,
  ) {}

  /** Records one cut; `outlast`: the server takes reports. */
  record(report: CutReport, outlast: boolean): CutReport {
    this.emitter.emit('cut', report);
    if (outlast) this.reports?.add(report);
    this.history.push(report);
    if (this.history.length > HISTORY) this.history.shift();
    return report;
  }

  /** Sends the queued reports now (the connection is closing). */
  flush(): void {
    this.reports?.flush();
  }
}
