import { type KnownIntermediary, knownIntermediaries } from './knowledge.js';
import type { ExperimentRecord, Intermediary } from './types.js';

/** An intermediary found, with the table entry it matched. */
export interface Identified extends Intermediary {
  known: KnownIntermediary | null;
}

/** The headers the probe server received (its echo), as pairs. */
export type EchoHeaders = Array<[string, string]>;

const clip = (v: string): string => (v.length > 60 ? `${v.slice(0, 57)}...` : v);

/**
 * Names the intermediaries on the path from their fingerprints: headers they add to
 * responses (every experiment's), headers they add to requests (the probe server's echo),
 * their error pages and statuses. Every name comes with the evidence that named it.
 */
export function identify(
  records: readonly ExperimentRecord[],
  echo: EchoHeaders | null,
): Identified[] {
  const found: Identified[] = [];
  for (const known of knownIntermediaries) {
    const evidence = new Set<string>();
    const seen = new Set<string>();
    for (const r of records) {
      for (const [name, pattern] of known.response) {
        const v = r.responseHeaders[name];
        // One value per header is evidence enough (cf-ray differs on every response).
        if (v !== undefined && pattern.test(v) && !seen.has(name)) {
          seen.add(name);
          evidence.add(`response header ${name}: ${clip(v)}`);
        }
      }
      if (r.errorBody !== null && r.symptom === 'status-before-headers') {
        for (const pattern of known.body) {
          const m = pattern.exec(r.errorBody);
          if (m !== null) evidence.add(`${r.status} error page says "${clip(m[0])}"`);
        }
      }
      if (r.status !== null && known.statuses?.includes(r.status)) {
        evidence.add(`status ${r.status} (only ${known.name} sends it)`);
      }
    }
    for (const [name, value] of echo ?? []) {
      for (const [n, pattern] of known.request) {
        if (n === name && pattern.test(value))
          evidence.add(`request header ${name}: ${clip(value)}`);
      }
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
  const xff = echo?.find(([n]) => n === 'x-forwarded-for')?.[1];
  if (xff !== undefined) {
    const hops = xff.split(',').filter((s) => s.trim() !== '').length;
    const unnamed = hops - filtered.length;
    if (unnamed > 0) {
      filtered.push({
        name: unnamed === 1 ? 'An unnamed proxy' : `${unnamed} unnamed proxies`,
        evidence: [
          `request header x-forwarded-for: ${clip(xff)} (${hops} hop${hops === 1 ? '' : 's'})`,
        ],
        known: null,
      });
    }
  }
  return filtered;
}
