import { connect, type Socket } from 'node:net';

/** What a raw HTTP/1.1 exchange looked like from the client's seat. */
export interface RawResult {
  /** Status of the response, or null when no head arrived. */
  status: number | null;
  /** Response headers, lowercase names (last value wins). */
  headers: Record<string, string>;
  /** Body bytes (dechunked) as text. */
  body: string;
  /** Body pieces with their arrival times (ms since the request was sent). */
  chunks: Array<{ at: number; text: string }>;
  /** When the head arrived (ms), or null. */
  headAt: number | null;
  /**
   * How it ended: `complete` (the whole body arrived), `fin` (the server closed before the end
   * of the body), `rst` (ECONNRESET), `timeout` (the test's own limit).
   */
  end: 'complete' | 'fin' | 'rst' | 'timeout' | 'error';
  /** When it ended (ms). */
  endAt: number;
}

/** Options of {@link rawRequest}. */
export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** Bytes to send instead of a well-formed request. */
  raw?: string;
}

/**
 * Sends one request on a fresh TCP connection and records everything: status, headers, when
 * each body piece came, and whether the connection ended with the body complete, with a FIN
 * mid-body or with a reset. Works the same against the proxy, nginx and HAProxy.
 */
export function rawRequest(url: string, options: RawRequestOptions = {}): Promise<RawResult> {
  const u = new URL(url);
  const start = performance.now();
  const now = (): number => performance.now() - start;
  const result: RawResult = {
    status: null,
    headers: {},
    body: '',
    chunks: [],
    headAt: null,
    end: 'error',
    endAt: 0,
  };
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    let headDone = false;
    let chunked = false;
    let length: number | null = null;
    let received = 0;
    let settled = false;
    const done = (end: RawResult['end']): void => {
      if (settled) return;
      settled = true;
      result.end = end;
      result.endAt = now();
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), options.timeoutMs ?? 10_000);
    const addBody = (b: Buffer): void => {
      if (b.length === 0) return;
      const text = b.toString('latin1');
      result.body += text;
      result.chunks.push({ at: now(), text });
    };
    const parse = (): void => {
      if (!headDone) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
        result.status = Number(lines[0]!.split(' ')[1]);
        for (const line of lines.slice(1)) {
          const c = line.indexOf(':');
          result.headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
        }
        result.headAt = now();
        headDone = true;
        buf = buf.subarray(i + 4);
        chunked = /chunked/i.test(result.headers['transfer-encoding'] ?? '');
        const cl = result.headers['content-length'];
        length = cl === undefined ? null : Number(cl);
        if (result.status === 101) {
          done('complete');
          return;
        }
        if (
          (options.method ?? 'GET') === 'HEAD' ||
          result.status === 204 ||
          result.status === 304
        ) {
          done('complete');
          return;
        }
      }
      if (chunked) {
        for (;;) {
          const j = buf.indexOf('\r\n');
          if (j < 0) return;
          const size = Number.parseInt(buf.subarray(0, j).toString('latin1'), 16);
          if (size === 0) {
            done('complete');
            return;
          }
          if (buf.length < j + 2 + size + 2) return;
          addBody(buf.subarray(j + 2, j + 2 + size));
          buf = buf.subarray(j + 2 + size + 2);
        }
      } else {
        received += buf.length;
        addBody(buf);
        buf = Buffer.alloc(0);
        if (length !== null && received >= length) done('complete');
      }
    };
    socket.on('connect', () => {
      if (options.raw !== undefined) {
        socket.write(options.raw);
        return;
      }
      const headers: Record<string, string> = { host: u.host, ...options.headers };
      if (options.body !== undefined)
        headers['content-length'] = String(Buffer.byteLength(options.body));
      const head = [`${options.method ?? 'GET'} ${u.pathname}${u.search} HTTP/1.1`];
      for (const [n, v] of Object.entries(headers)) head.push(`${n}: ${v}`);
      socket.write(`${head.join('\r\n')}\r\n\r\n${options.body ?? ''}`);
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    socket.on('end', () => {
      // Close-delimited bodies end at FIN; anything else ending here was cut.
      if (headDone && !chunked && length === null) done('complete');
      else done('fin');
    });
    socket.on('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'ECONNRESET' ? 'rst' : 'error'),
    );
    socket.on('close', () => done('fin'));
  });
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
