import type { ServerCore } from './core.js';
import { emptyReply, errorReply, type Incoming, type Reply } from './http.js';

/** Causes a client may report (docs/protocol.md, "Cut reports"); others count as `other`. */
export const reportCauses = new Set([
  'intermediary-error',
  'server-error',
  'mid-stream-eof',
  'stall',
  'network-error',
  'server-rotation',
  'client-abort',
]);

const transports = new Set(['sse', 'ws', 'poll']);

/** `POST {base}/reports`: counts each reported cut by cause and transport. */
export async function readReports(core: ServerCore, inc: Incoming): Promise<Reply> {
  const o = core.o;
  const body = await inc.body(o.maxReportBytes);
  if (body === null) {
    return errorReply(
      413,
      'request-too-large',
      `reports are limited to ${o.maxReportBytes} bytes per request`,
    );
  }
  let reports: unknown;
  try {
    reports = (JSON.parse(new TextDecoder().decode(body)) as { reports?: unknown }).reports;
  } catch {
    reports = undefined;
  }
  if (!Array.isArray(reports)) {
    return errorReply(
      400,
      'bad-request',
      'expected a JSON body {"reports":[{"cause","transport",...}]}',
    );
  }
  if (reports.length > o.maxReportsPerRequest) {
    return errorReply(
      413,
      'request-too-large',
      `at most ${o.maxReportsPerRequest} reports per request`,
    );
  }
  for (const report of reports) {
    const r = (report ?? {}) as { cause?: unknown; transport?: unknown };
    // Labels come from fixed sets: a client cannot blow up the metric's cardinality.
    const cause = typeof r.cause === 'string' && reportCauses.has(r.cause) ? r.cause : 'other';
    const transport =
      typeof r.transport === 'string' && transports.has(r.transport) ? r.transport : 'other';
    core.metrics.clientReport(cause, transport);
  }
  return emptyReply(204);
}
