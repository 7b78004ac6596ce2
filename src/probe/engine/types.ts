/** How a connection ended early: what the client saw. */
export type Symptom =
  /** The intermediary answered its own error status instead of the response headers. */
  | 'status-before-headers'
  /** The connection ended (FIN) or failed before any response. */
  | 'close-before-headers'
  /** Headers came, then the connection ended (FIN) mid-body. */
  | 'close-after-headers'
  /** Headers came, then the connection was reset (RST) mid-body. */
  | 'reset-after-headers'
  /** The connection died exactly when the server wrote after a silence (a write deadline). */
  | 'cut-on-write'
  /** The connection stayed open but a marker sent after a silence never arrived. */
  | 'marker-lost'
  /** A WebSocket closed abnormally (code 1006) or with an error code. */
  | 'websocket-closed'
  /** A WebSocket upgrade was answered with an error status. */
  | 'websocket-refused';

/** One connection opened by the probe, as the timeline draws it. */
export interface ExperimentRecord {
  /** `first-byte`, `sse-idle`, `sse-total`, `ws-idle`, `ws-total`, `marker-12000`, `train`... */
  name: string;
  transport: 'http' | 'sse' | 'websocket' | 'long-poll';
  /** What it checks, one line. */
  purpose: string;
  /** When it opened, ms since the probe started. */
  openedAtMs: number;
  /** When the response headers (or the 101) arrived, ms since it opened; null: never. */
  headersAtMs: number | null;
  /** When it ended, ms since it opened; null while running. */
  endedAtMs: number | null;
  /** The response status (the intermediary's, when it answered before the headers). */
  status: number | null;
  /** `completed` as planned, `cut` early, `not-reached` (still alive at max-wait), `failed`. */
  outcome: 'running' | 'completed' | 'cut' | 'not-reached' | 'failed';
  symptom: Symptom | null;
  /** Error detail (network error code, WebSocket close code). */
  detail: string | null;
  /** Byte arrivals: [ms since opened, bytes], coalesced. */
  bytes: Array<[number, number]>;
  /** Response headers received (lower case). */
  responseHeaders: Record<string, string>;
  /** Start of the body of an error response (the intermediary's page). */
  errorBody: string | null;
  /** Server clock (Unix ms) when the server started this response: its `open` stamp. */
  serverOpenAt?: number;
  /**
   * Smallest `arrival - server stamp` over the stamped bytes (ms since opened minus server
   * Unix ms): the clock offset plus the fastest return latency. With `serverOpenAt` it places
   * the server's start on the probe's own clock, free of the forward latency.
   */
  minOffsetMs?: number;
  /** For marker streams: when the marker was due, ms since opened. */
  markerDueMs?: number;
  /** For marker streams: whether the marker arrived. */
  markerArrived?: boolean;
  /** For trains: each event's server send time (server clock, Unix ms) and arrival (ms since opened). */
  train?: Array<{ seq: number; sentAtMs: number; arrivedAtMs: number; bytes: number }>;
}

/** A limit cut: the contract's `cuts[]` entry. */
export interface Cut {
  experiment: string;
  atMs: number;
  symptom: Symptom;
  status: number | null;
}

/** An intermediary recognised from its fingerprints. */
export interface Intermediary {
  name: string;
  evidence: string[];
}

/** How a culprit is known: see `docs/probe.md`, "Reading the basis". */
export type Basis = 'evidence' | 'inference' | 'unknown';

/** The setting that raises a named hop's clock. */
export interface CulpritFix {
  /** The setting, as the product names it. */
  setting: string;
  /** The value suggested (5 min for idle clocks, 1 h for total ones). */
  value: string;
  /** The line to paste. */
  line: string;
  /** Where it goes. */
  where: string;
}

/** One limit tied to a hop. */
export interface Culprit {
  limit: string;
  valueMs: number;
  /** The product, or `unknown`. */
  name: string;
  basis: Basis;
  /** Why: the evidence, or the inference worded as one. */
  reason: string;
  /** For an inference: what would confirm it. */
  confirm?: string;
  /** The hops that could be it (inference and unknown). */
  candidates?: string[];
  /** For unknown: the probes that would pop one piece out. */
  popOut?: string[];
  /** The fix on the named hop; null when unknown. */
  fix: CulpritFix | null;
}

/** A ready-to-paste configuration snippet. */
export interface ConfigSnippet {
  /** `nginx`, `haproxy`, `alb-terraform`, `service-connect`, `cloudflare`, `node`, `uvicorn`. */
  for: string;
  /** One line: what it changes and why. */
  title: string;
  snippet: string;
}

/** The `--json` contract (see `docs/probe.md`). Durations in ms; null: not reached. */
export interface ProbeReport {
  target: string;
  durationMs: number;
  /** How long a limit was waited for: max-wait, or `durationMs` when interrupted. */
  maxWaitMs: number;
  /** Stopped early (Ctrl-C, SIGTERM, the `signal` option): the limits are those found so far. */
  interrupted: boolean;
  limits: {
    sse: { idleMs: number | null; totalMs: number | null; firstByteMs: number | null };
    websocket: { idleMs: number | null; totalMs: number | null };
  };
  cuts: Cut[];
  buffering: { detected: boolean; heldBytes: number; fixedByHeaders: boolean | null };
  intermediaries: Intermediary[];
  recommendation: {
    transport: 'sse' | 'websocket' | 'long-poll';
    heartbeatMs: number;
    maxStreamMs: number | null;
    serverConfig: ConfigSnippet[];
  };
  /** Which hop each limit belongs to, how that is known (`basis`), and its fix. */
  culprits: Culprit[];
  /** How many hops the request crossed and their order, as far as the wire tells. */
  chain: { count: number; order: string[]; evidence: string[]; lowerBound: boolean };
  /** The requests that made hops answer for themselves, and who answered. */
  activeProbes: Array<{ probe: string; sent: string; status: number | null; answeredBy: string }>;
  transports: {
    websocket: { works: boolean; status: number | null };
    longPoll: { works: boolean; status: number | null };
  };
  /** Plain-language notes: masked limits, "not reached up to X", silent drops. */
  notes: string[];
  /** Every connection the probe opened, for the timeline. */
  experiments: ExperimentRecord[];
}
