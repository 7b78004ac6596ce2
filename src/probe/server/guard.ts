import type { ResolvedProbeServerOptions } from './options.js';

/** A refusal: status, error code and a message that says what to do. */
export interface Refusal {
  status: 401 | 429;
  code: 'unauthorized' | 'too-many-connections';
  message: string;
  retryAfterSeconds?: number;
}

/**
 * The probe server's abuse limits: a token when one is configured, a per-address request
 * rate (fixed one-minute windows: cheap, and a burst can at most double the rate), and a cap
 * on connections held at once. Probe endpoints hold connections for minutes by design, so
 * the cap is what keeps a public probe server from being a free connection sink.
 */
export class ProbeGuard {
  private active = 0;
  private windowStart = 0;
  private readonly counts = new Map<string, number>();

  constructor(private readonly o: ResolvedProbeServerOptions) {}

  /** Connections held now. */
  get held(): number {
    return this.active;
  }

  /** Checks the token and the rate of one request; `null` lets it through. */
  admit(token: string | null, address: string): Refusal | null {
    if (this.o.token !== null && token !== this.o.token) {
      return {
        status: 401,
        code: 'unauthorized',
        message:
          token === null
            ? 'this probe server needs a token: add ?token=... to the URL (outlast probe-server printed it)'
            : 'wrong probe token: use the token outlast probe-server printed at start (?token=...)',
      };
    }
    const now = this.o.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.counts.clear();
    }
    const count = (this.counts.get(address) ?? 0) + 1;
    this.counts.set(address, count);
    if (count > this.o.maxRequestsPerMinute) {
      return {
        status: 429,
        code: 'too-many-connections',
        message: `more than ${this.o.maxRequestsPerMinute} probe requests a minute from ${address}; wait and retry`,
        retryAfterSeconds: Math.max(1, Math.ceil((this.windowStart + 60_000 - now) / 1000)),
      };
    }
    return null;
  }

  /** Takes a connection slot; returns its release (idempotent), or a refusal when full. */
  acquire(): (() => void) | Refusal {
    if (this.active >= this.o.maxConcurrent) {
      return {
        status: 429,
        code: 'too-many-connections',
        message: `the probe server already holds ${this.o.maxConcurrent} probe connections; retry later`,
        retryAfterSeconds: 5,
      };
    }
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
    };
  }
}

/** The token of a request: `?token=` or `Authorization: Bearer ...`. */
export function requestToken(url: URL, authorization: string | null): string | null {
  const q = url.searchParams.get('token');
  // `?token=` empty is no token at all, never a match.
  if (q !== null && q !== '') return q;
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  return m === null ? null : m[1]!.trim();
}
