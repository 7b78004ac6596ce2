import type { ActiveAnswer } from './active.js';
import { readLimits } from './analyze.js';
import { attribute } from './attribute.js';
import { readTrain } from './buffering.js';
import { answerSender, baselineHeaders, fromProbeServer, identify, readChain } from './identify.js';
import { recommend } from './recommend.js';
import type { Cut, ExperimentRecord, ProbeReport } from './types.js';

/** What the report is built from once every experiment has ended. */
export interface ReportInput {
  target: string;
  records: ExperimentRecord[];
  /** The request headers the probe server received, or null. */
  echo: Array<[string, string]> | null;
  /** The same, as raw header lines in their case and order, when the server sent them. */
  echoRaw?: Array<[string, string]> | null;
  notes: string[];
  durationMs: number;
  maxWaitMs: number;
  /** The probe was stopped (its signal) before max-wait. @default false */
  interrupted?: boolean;
  rttMs: number;
  train: { intervalMs: number; eventBytes: number; trainMs: number };
  /** The active probes' answers (none when they were off). */
  active?: ActiveAnswer[];
}

/** Reads limits, buffering, transports, intermediaries and cuts into the `--json` contract. */
export function buildReport(input: ReportInput): ProbeReport {
  const { records, echo, notes, durationMs, maxWaitMs, rttMs } = input;
  const { intervalMs: trainInterval, eventBytes, trainMs } = input.train;
  const limits = readLimits(records, maxWaitMs, rttMs);
  const plain = records.find((r) => r.name === 'train');
  const anti = records.find((r) => r.name === 'train-anti-buffering');
  const vPlain = plain === undefined ? null : readTrain(plain, trainInterval, eventBytes, trainMs);
  const vAnti = anti === undefined ? null : readTrain(anti, trainInterval, eventBytes, trainMs);
  const buffering: ProbeReport['buffering'] = {
    detected: vPlain?.detected ?? false,
    heldBytes: vPlain?.heldBytes ?? 0,
    fixedByHeaders: vPlain?.detected ? vAnti?.detected === false : null,
  };
  if (buffering.detected) {
    notes.push(
      buffering.fixedByHeaders
        ? `buffering: the path held up to ${buffering.heldBytes} bytes of a plain stream; X-Accel-Buffering: no / Cache-Control: no-transform fix it`
        : `buffering: the path held up to ${buffering.heldBytes} bytes; the anti-buffering headers do not help: use WebSocket or long-polling`,
    );
  }
  const wsIdle = records.find((r) => r.name === 'ws-idle');
  const poll = records.find((r) => r.name === 'long-poll');
  const transportsReport: ProbeReport['transports'] = {
    websocket: {
      works: wsIdle !== undefined && wsIdle.status === 101,
      status: wsIdle?.status ?? null,
    },
    longPoll: {
      works: poll?.outcome === 'completed' && poll.status === 200,
      status: poll?.status ?? null,
    },
  };
  const active = input.active ?? [];
  const found = identify(records, echo, active);
  const chain = readChain(records, echo, active, found, input.echoRaw ?? null);
  const baseline = baselineHeaders(records);
  const cuts: Cut[] = records
    .filter((r) => r.outcome === 'cut' && r.symptom !== null)
    .map((r) => ({
      experiment: r.name,
      atMs: Math.round(
        r.symptom === 'status-before-headers' ? (r.headersAtMs ?? 0) : (r.endedAtMs ?? 0),
      ),
      symptom: r.symptom!,
      status:
        r.symptom === 'status-before-headers' || r.symptom === 'websocket-refused'
          ? r.status
          : null,
    }));
  const round1 = (v: number | null): number | null => (v === null ? null : Math.round(v));
  const report: ProbeReport = {
    target: input.target,
    durationMs,
    maxWaitMs: Math.round(maxWaitMs),
    interrupted: input.interrupted === true,
    limits: {
      sse: {
        idleMs: round1(limits.sse.idleMs),
        totalMs: round1(limits.sse.totalMs),
        firstByteMs: round1(limits.sse.firstByteMs),
      },
      websocket: {
        idleMs: round1(limits.websocket.idleMs),
        totalMs: round1(limits.websocket.totalMs),
      },
    },
    cuts,
    buffering,
    intermediaries: found.map(({ name, evidence }) => ({ name, evidence })),
    recommendation: recommend(limits, buffering, transportsReport, found),
    culprits: attribute({
      target: input.target,
      limits,
      maxWaitMs,
      records,
      found,
      chain,
      echo,
    }),
    chain,
    activeProbes: active.map((a) => ({
      probe: a.probe,
      sent: a.sent,
      status: a.status,
      answeredBy:
        a.status === null
          ? `no answer (${a.detail ?? 'closed'})`
          : fromProbeServer(a)
            ? 'the probe server (every hop passed it on)'
            : (answerSender(a, baseline)?.product.name ?? 'a hop that does not name itself'),
    })),
    transports: transportsReport,
    notes: [...notes, ...limits.notes],
    experiments: records,
  };
  return report;
}
