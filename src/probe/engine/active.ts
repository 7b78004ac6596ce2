import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * Requests that make a hop answer for itself, each safe (one small request, nothing
 * forwarded that could change state): a malformed method the first HTTP hop rejects in its
 * own words; `TRACE` with `Max-Forwards: 0, 1, 2` that each hop implementing RFC 9110 7.6.2
 * answers at its depth; a header over 8 KiB that the first hop with a smaller limit rejects.
 * Sent over raw sockets: `fetch` can send none of them.
 */
export interface ActiveAnswer {
  /** `bad-method`, `max-forwards-0`, `max-forwards-1`, `max-forwards-2`, `long-header`. */
  probe: string;
  /** One line: what was sent. */
  sent: string;
  /** Status of the answer, or null (no answer: closed, reset, timed out). */
  status: number | null;
  /** Response headers, lower case. */
  headers: Record<string, string>;
  /** Start of the body. */
  body: string;
  /** Network error or `timeout`, when there was no answer. */
  detail: string | null;
}

/** One raw HTTP/1.1 exchange: resolves with the first response (never rejects). */
export function rawExchange(
  url: URL,
  request: string,
  timeoutMs: number,
): Promise<Omit<ActiveAnswer, 'probe' | 'sent'>> {
  return new Promise((resolve) => {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket: Socket =
      url.protocol === 'https:'
        ? tlsConnect({ host, port, servername: host, ALPNProtocols: ['http/1.1'] })
        : netConnect({ host, port });
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (detail: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(data.toString('latin1'), detail));
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      // A peer that never ends its head is not read forever.
      if (data.length > 64 * 1024) {
        finish('head too long');
        return;
      }
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = text.slice(0, end);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const bodyLen = data.length - end - 4;
      // Enough of the page to name its sender; a chunked or unsized body ends at 4 KiB.
      if (length !== null ? bodyLen >= Math.min(Number(length[1]), 4096) : bodyLen >= 4096)
        finish(null);
      else if (/\r\n0\r\n\r\n$/.test(text)) finish(null);
    });
    socket.on('end', () => finish(null));
    socket.on('error', (error: Error & { code?: string }) => finish(error.code ?? error.message));
  });
}

function parseAnswer(text: string, detail: string | null): Omit<ActiveAnswer, 'probe' | 'sent'> {
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(text);
  const end = text.indexOf('\r\n\r\n');
  if (m === null || end < 0) {
    const why = m === null ? 'no answer' : 'incomplete head';
    return {
      status: null,
      headers: {},
      body: '',
      detail: detail === null ? why : `${detail} (${why})`,
    };
  }
  const head = text.slice(0, end);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const raw = text.slice(end + 4, end + 4 + 8192);
  const body = (/chunked/i.test(headers['transfer-encoding'] ?? '') ? dechunk(raw) : raw).slice(
    0,
    4096,
  );
  return { status: Number(m[1]), headers, body, detail: null };
}

/** The data of a chunked body (as much as arrived). */
function dechunk(raw: string): string {
  let out = '';
  let rest = raw;
  for (;;) {
    const m = /^([0-9a-fA-F]+)[^\r\n]*\r\n/.exec(rest);
    if (m === null) return out === '' ? raw : out;
    const size = Number.parseInt(m[1]!, 16);
    if (size === 0) return out;
    out += rest.slice(m[0].length, m[0].length + size);
    rest = rest.slice(m[0].length + size).replace(/^\r\n/, '');
  }
}

/** The active probes, all at once; each gets `timeoutMs`. */
export async function runActiveProbes(
  base: string,
  token: string | null,
  timeoutMs = 3000,
): Promise<ActiveAnswer[]> {
  const url = new URL(base);
  const path = (p: string): string =>
    `${url.pathname.replace(/\/+$/, '')}/${p}${token === null ? '' : `?token=${encodeURIComponent(token)}`}`;
  const hostLine = `Host: ${url.host}\r\nUser-Agent: outlast-probe\r\nConnection: close\r\n`;
  const probes: Array<[string, string, string]> = [
    ['bad-method', 'a malformed method (G@T)', `G@T ${path('info')} HTTP/1.1\r\n${hostLine}\r\n`],
    ...[0, 1, 2].map((n): [string, string, string] => [
      `max-forwards-${n}`,
      `TRACE with Max-Forwards: ${n}`,
      `TRACE ${path('echo')} HTTP/1.1\r\n${hostLine}Max-Forwards: ${n}\r\n\r\n`,
    ]),
    [
      'long-header',
      'a 9 KiB request header',
      `GET ${path('info')} HTTP/1.1\r\n${hostLine}X-Outlast-Pad: ${'a'.repeat(9000)}\r\n\r\n`,
    ],
  ];
  return Promise.all(
    probes.map(async ([probe, sent, request]) => ({
      probe,
      sent,
      ...(await rawExchange(url, request, timeoutMs)),
    })),
  );
}
