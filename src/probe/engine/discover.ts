import { OutlastError } from '../../errors.js';
import { PROBE_PROTOCOL } from '../server/options.js';

/** A probe server found at a URL. */
export interface ProbeTarget {
  /** Base URL of the endpoints, without a trailing slash or query. */
  base: string;
  maxHoldMs: number;
}

/** Adds `?token=` (and keeps other query parameters) to an endpoint URL. */
export function endpointUrl(
  base: string,
  path: string,
  query: Record<string, string | number>,
  token: string | null,
): string {
  const url = new URL(`${base}/${path}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
  if (token !== null) url.searchParams.set('token', token);
  return url.href;
}

const HOW =
  'run one with `outlast probe-server` (or mount createProbeHandler() from outlast/probe in your app) and point `outlast probe` at its URL, e.g. http://HOST:PORT/outlast-probe';

/**
 * Finds the probe endpoints at `url` (or at `url/outlast-probe`) and checks the token.
 * @throws {OutlastError} `probe-unreachable`, `probe-unauthorized`, `not-a-probe-server`.
 */
export async function discover(
  url: string,
  token: string | null,
  fetchFn: typeof fetch,
  headers: Record<string, string>,
): Promise<ProbeTarget> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OutlastError(
      'invalid-option',
      `"${url}" is not a URL; expected http(s)://host:port/outlast-probe`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new OutlastError('invalid-option', `"${url}" must be http:// or https://`);
  }
  token ??= parsed.searchParams.get('token');
  parsed.searchParams.delete('token');
  const root = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  const candidates = root.endsWith('/outlast-probe') ? [root] : [root, `${root}/outlast-probe`];
  let lastStatus: number | null = null;
  for (const base of candidates) {
    let response: Response;
    try {
      response = await fetchFn(endpointUrl(base, 'info', {}, token), {
        headers,
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      // The Fetch standard refuses a list of "bad ports" (1, 7, 9, 25, 6000, ...) before
      // connecting; undici then says only "bad port".
      const why =
        cause?.message === 'bad port'
          ? `port ${parsed.port} is one of the ports fetch refuses to connect to (the Fetch standard's "bad ports": 1, 7, 9, 21, 22, 25, 6000, 6665-6669 and others, blocked in every browser and Node); run the probe server on another port, such as 8080`
          : `${cause?.code ?? cause?.message ?? (error as Error).message}; check the address and that the probe server runs (${HOW})`;
      throw new OutlastError('probe-unreachable', `cannot reach ${url}: ${why}`, { cause: error });
    }
    if (response.status === 401) {
      throw new OutlastError(
        'probe-unauthorized',
        `401 Unauthorized: the probe server at ${base} ${token === null ? 'needs a token' : 'refused the token'}; pass the token outlast probe-server printed (--token T or ?token=T in the URL)`,
      );
    }
    lastStatus = response.status;
    const text = await response.text().catch(() => '');
    try {
      const info = JSON.parse(text) as { protocol?: string; maxHoldMs?: number };
      if (info.protocol === PROBE_PROTOCOL) {
        return { base, maxHoldMs: Number(info.maxHoldMs ?? 900_000) };
      }
    } catch {
      // Not JSON: not a probe server; try the next candidate.
    }
  }
  throw new OutlastError(
    'not-a-probe-server',
    `${url} answered (status ${lastStatus}) but is not an outlast probe server; ${HOW}`,
  );
}

/**
 * Warms the path the way the experiments will use it: as many requests at once as there
 * will be experiments. Every hop then holds warm keep-alive connections, so connection
 * set-up (TLS, a simulator's first-run costs) stays out of the measurements. Resolves with
 * the path's round trip, the best of three afterwards: what a cut answered before the
 * headers is corrected by (0 when none succeeded).
 */
export async function warmPath(
  base: string,
  token: string | null,
  fetchFn: typeof fetch,
  headers: Record<string, string>,
  now: () => number,
): Promise<number> {
  const ping = async (): Promise<number> => {
    const t0 = now();
    try {
      await (await fetchFn(endpointUrl(base, 'info', {}, token), { headers })).arrayBuffer();
      return now() - t0;
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  };
  await Promise.all(Array.from({ length: 16 }, ping));
  let rtt = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) rtt = Math.min(rtt, await ping());
  return Number.isFinite(rtt) ? rtt : 0;
}
