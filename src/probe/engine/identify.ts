import { type KnownProduct, knownProducts } from '../knowledge/index.js';
import type { ActiveAnswer } from './active.js';
import type { ExperimentRecord, Intermediary } from './types.js';

/** An intermediary found, with the product it matched (null: named only in `Via`). */
export interface Identified extends Intermediary {
  known: KnownProduct | null;
}

/** The headers the probe server received (its echo), as pairs. */
export type EchoHeaders = Array<[string, string]>;

/** An answer some hop (or the server) gave instead of the response asked for. */
export interface Answer {
  status: number | null;
  headers: Record<string, string>;
  body: string;
}

const clip = (v: string): string => (v.length > 60 ? `${v.slice(0, 57)}...` : v);

/** One `Via` entry: `1.1 vm (squid/5.7)`. */
export interface ViaEntry {
  raw: string;
  /** The received-by name (`vm`, `varnish`, `google`). */
  by: string;
}

/** Splits a `Via` value into its entries (commas inside comments do not split). */
export function parseVia(value: string | undefined): ViaEntry[] {
  if (value === undefined) return [];
  return value
    .split(/,(?![^(]*\))/)
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((raw) => ({ raw, by: raw.split(/\s+/)[1] ?? raw }));
}

/** The headers of the responses the probe server itself made (status 200 or 101), merged. */
export function baselineHeaders(records: readonly ExperimentRecord[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of records) {
    if (r.status !== 200 && r.status !== 101) continue;
    for (const [k, v] of Object.entries(r.responseHeaders)) out[k] ??= v;
  }
  return out;
}

/** Whether an answer came from the probe server (its JSON), not from a hop. */
export function fromProbeServer(a: Answer): boolean {
  try {
    const j = JSON.parse(a.body) as { protocol?: string; error?: { code?: string } };
    return j.protocol === 'outlast-probe/1' || typeof j.error?.code === 'string';
  } catch {
    return false;
  }
}

/**
 * Names the hop that made an answer itself: its error page's words, a status only it sends,
 * or a header of its own that the probe server's responses through the same path do not
 * carry (a hop that stamps every response, like nginx's `server`, names no sender: the
 * header would be there whoever answered). Null when nothing on the answer names anyone.
 */
export function answerSender(
  a: Answer,
  baseline: Record<string, string>,
): { product: KnownProduct; evidence: string[] } | null {
  if (fromProbeServer(a)) return null;
  // A header counts when the probe server's responses lack it, or (a name like `server`)
  // carry another value; per-response ids (x-varnish, cf-ray) differ every time and name no one.
  const differs = (name: string): string | undefined => {
    const v = a.headers[name];
    if (v === undefined) return undefined;
    const b = baseline[name];
    return b === undefined || (name === 'server' && b !== v) ? v : undefined;
  };
  let best: { product: KnownProduct; evidence: string[]; strength: number } | null = null;
  for (const p of knownProducts) {
    const evidence: string[] = [];
    let strength = 0;
    for (const pattern of p.errorBody) {
      const m = pattern.exec(a.body);
      if (m !== null) {
        evidence.push(`its ${a.status ?? ''} page says "${clip(m[0].trim())}"`);
        strength += 3;
      }
    }
    for (const [name, pattern] of [...(p.errorHeaders ?? []), ...p.response]) {
      const v = differs(name);
      if (v !== undefined && pattern.test(v)) {
        evidence.push(`its ${a.status ?? ''} came with ${name}: ${clip(v)}`);
        strength += 2;
      }
    }
    if (a.status !== null && p.statuses?.includes(a.status)) {
      evidence.push(`status ${a.status} (only ${p.name} sends it)`);
      strength += 2;
    }
    if (strength > 0 && (best === null || strength > best.strength))
      best = { product: p, evidence: [...new Set(evidence)], strength };
  }
  return best === null ? null : { product: best.product, evidence: best.evidence };
}

/** The error answers among the experiments: statuses before headers, refused upgrades. */
export function errorAnswers(records: readonly ExperimentRecord[]): Answer[] {
  return records
    .filter((r) => r.symptom === 'status-before-headers' || r.symptom === 'websocket-refused')
    .map((r) => ({ status: r.status, headers: r.responseHeaders, body: r.errorBody ?? '' }));
}

/**
 * Names the intermediaries on the path from their fingerprints: headers they add to the
 * probe server's responses, headers they add to requests (the echo), their `Via` entries,
 * their error pages (experiments cut before the headers and the active probes' answers).
 * Every name comes with the evidence that named it. A `Via` entry no product matches is
 * reported under the name it gives; hops counted (`X-Forwarded-For`, `Via`) but not named
 * are reported as unnamed.
 */
export function identify(
  records: readonly ExperimentRecord[],
  echo: EchoHeaders | null,
  active: readonly ActiveAnswer[] = [],
): Identified[] {
  const baseline = baselineHeaders(records);
  const reqVia = parseVia(echo?.find(([n]) => n === 'via')?.[1]);
  const resVia = parseVia(baseline.via);
  const answers: Answer[] = [...errorAnswers(records), ...active.filter((a) => a.status !== null)];
  const found: Identified[] = [];
  const viaClaimed = new Set<string>();
  for (const known of knownProducts) {
    const evidence = new Set<string>();
    for (const [name, pattern] of known.response) {
      const v = baseline[name];
      if (v !== undefined && pattern.test(v)) evidence.add(`response header ${name}: ${clip(v)}`);
    }
    for (const [name, value] of echo ?? []) {
      for (const [n, pattern] of known.request) {
        if (n === name && pattern.test(value))
          evidence.add(`request header ${name}: ${clip(value)}`);
      }
    }
    if (known.via !== undefined) {
      for (const [list, where] of [
        [reqVia, 'request'],
        [resVia, 'response'],
      ] as const) {
        for (const e of list) {
          if (known.via.test(e.raw)) {
            evidence.add(`${where} Via entry "${clip(e.raw)}"`);
            viaClaimed.add(e.raw);
          }
        }
      }
    }
    for (const a of answers) {
      const sender = answerSender(a, baseline);
      if (sender?.product.id === known.id) for (const e of sender.evidence) evidence.add(e);
    }
    if (evidence.size > 0) found.push({ name: known.name, evidence: [...evidence], known });
  }
  // An API Gateway also stamps x-amzn-trace-id: do not name an ALB on that alone.
  const apigw = found.some((f) => f.known?.id === 'api-gateway');
  const filtered = found.filter(
    (f) =>
      !(
        apigw &&
        f.known?.id === 'aws-alb' &&
        f.evidence.every((e) => e.startsWith('request header x-amzn-trace-id'))
      ),
  );
  // Via entries no product claims: named as they name themselves (RFC 9110 7.6.3).
  const seen = new Set<string>();
  for (const e of [...reqVia, ...resVia]) {
    if (viaClaimed.has(e.raw) || seen.has(e.by)) continue;
    seen.add(e.by);
    filtered.push({
      name: `${e.by} (named in Via)`,
      evidence: [`Via entry "${clip(e.raw)}"`],
      known: null,
    });
  }
  const count = countHops(echo);
  const unnamed = count.hops - filtered.length;
  if (unnamed > 0) {
    filtered.push({
      name: unnamed === 1 ? 'An unnamed proxy' : `${unnamed} unnamed proxies`,
      evidence: [count.basis],
      known: null,
    });
  }
  return filtered;
}

/** How many hops the request crossed, from the headers each one appends, and how that is known. */
export function countHops(echo: EchoHeaders | null): { hops: number; basis: string } {
  const get = (n: string): string | undefined => echo?.find(([k]) => k === n)?.[1];
  const xff = (get('x-forwarded-for') ?? '').split(',').filter((s) => s.trim() !== '').length;
  const fwd = (get('forwarded') ?? '').split(',').filter((s) => /for=/i.test(s)).length;
  const via = parseVia(get('via')).length;
  const hops = Math.max(xff, fwd, via);
  const parts = [
    xff > 0 ? `x-forwarded-for has ${xff} entr${xff === 1 ? 'y' : 'ies'}` : null,
    fwd > 0 ? `forwarded has ${fwd}` : null,
    via > 0 ? `via has ${via}` : null,
  ].filter((s) => s !== null);
  return { hops, basis: parts.length === 0 ? 'no hop appended a header' : parts.join(', ') };
}

/** What the probe knows of the chain's order and size. */
export interface Chain {
  /** Hops counted from the headers they append (a lower bound: some append nothing). */
  count: number;
  /** Named hops, outermost first, as far as their order is known (a partial order). */
  order: string[];
  /** How count and order are known. */
  evidence: string[];
  /**
   * The count may miss hops: one that replaces X-Forwarded-For is on the path (named, or
   * seen re-casing header names as Go proxies do).
   */
  lowerBound: boolean;
}

/**
 * Orders the hops where the wire tells: the request's `Via` lists them outermost first; the
 * first HTTP hop answers a malformed request itself; hops implementing `Max-Forwards` answer
 * `TRACE` at their depth among those that do.
 */
export function readChain(
  records: readonly ExperimentRecord[],
  echo: EchoHeaders | null,
  active: readonly ActiveAnswer[],
  found: readonly Identified[],
  raw: ReadonlyArray<[string, string]> | null = null,
): Chain {
  const baseline = baselineHeaders(records);
  const count = countHops(echo);
  const evidence = [`${count.hops} hop${count.hops === 1 ? '' : 's'} counted: ${count.basis}`];
  const nameOfVia = (e: ViaEntry): string =>
    knownProducts.find((p) => p.via?.test(e.raw))?.name ?? `${e.by} (named in Via)`;
  const order = parseVia(echo?.find(([n]) => n === 'via')?.[1]).map(nameOfVia);
  if (order.length > 0) evidence.push(`request Via lists ${order.join(', ')}, outermost first`);
  const bad = active.find((a) => a.probe === 'bad-method' && a.status !== null);
  const first = bad === undefined ? null : answerSender(bad, baseline);
  if (first !== null) {
    evidence.push(
      `${first.product.name} answered the malformed request itself: the outermost HTTP hop`,
    );
    if (!order.includes(first.product.name)) order.unshift(first.product.name);
  }
  for (const a of active) {
    if (!a.probe.startsWith('max-forwards-') || a.status === null) continue;
    const s = answerSender(a, baseline);
    const isTrace = /message\/http/i.test(a.headers['content-type'] ?? '');
    if (s !== null || isTrace) {
      const who = s?.product.name ?? `a hop (${a.headers.server ?? a.headers.via ?? 'unnamed'})`;
      evidence.push(`${who} answered ${a.sent} itself`);
    }
  }
  const recased = headerCase(raw);
  if (recased !== null) evidence.push(recased);
  let lowerBound = recased?.includes('Go proxies') === true;
  for (const f of found) {
    if (f.known?.resetsForwardedFor === true) lowerBound = true;
    if (f.known?.resetsForwardedFor === true)
      evidence.push(
        `${f.name} replaces x-forwarded-for: hops in front of it are not counted (the count is a lower bound)`,
      );
  }
  const named = found.filter((f) => !f.name.includes('unnamed')).length;
  return { count: Math.max(count.hops, named), order: [...new Set(order)], evidence, lowerBound };
}

/**
 * What the header names' case says about the hop nearest the server (the last to write the
 * request): Node's fetch sends them lower case; Go proxies (Caddy, Traefik) re-case every name
 * (`Sec-Fetch-Mode`); Squid re-cases the names it knows (`User-Agent`) and keeps the others.
 */
export function headerCase(raw: ReadonlyArray<[string, string]> | null): string | null {
  if (raw === null) return null;
  const name = (n: string): string | undefined => raw.find(([k]) => k.toLowerCase() === n)?.[0];
  const fetchMode = name('sec-fetch-mode');
  const agent = name('user-agent');
  if (fetchMode === undefined || agent === undefined) return null;
  if (fetchMode === 'Sec-Fetch-Mode')
    return 'header names arrived re-cased (Sec-Fetch-Mode): the hop nearest the server re-cases every name, as Go proxies do (Caddy, Traefik)';
  if (agent === 'User-Agent')
    return 'known header names arrived re-cased (User-Agent) and others kept (sec-fetch-mode): the hop nearest the server re-cases the names it knows, as Squid does';
  return null;
}
