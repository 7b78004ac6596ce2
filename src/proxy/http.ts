import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** A header list in order, duplicates kept (`set-cookie`). */
export type HeaderList = Array<[string, string]>;

// [RFC 9110, 7.6.1] Hop-by-hop fields: a proxy removes them and the fields named by
// `Connection` before forwarding.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * Turns Node's flat `rawHeaders` into a list without hop-by-hop fields (`transfer-encoding`
 * is kept: Node's own framing reads it), minus the `drop` names (lowercase).
 */
export function forwardHeaders(raw: string[], drop: readonly string[] = []): HeaderList {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      for (const n of raw[i + 1]!.split(',')) named.add(n.trim().toLowerCase());
    }
  }
  const out: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || drop.includes(lower)) continue;
    out.push([name, raw[i + 1]!]);
  }
  return out;
}

/** Sets a header in a list: replaces every field of that name, or appends. */
export function setHeader(list: HeaderList, name: string, value: string): void {
  const lower = name.toLowerCase();
  let found = false;
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i]![0].toLowerCase() !== lower) continue;
    if (found) list.splice(i, 1);
    else {
      list[i] = [name, value];
      found = true;
    }
  }
  if (!found) list.push([name, value]);
}

/** Appends the client address to `x-forwarded-for` (one entry per hop). */
export function appendForwardedFor(list: HeaderList, address: string): void {
  const existing = list.find(([n]) => n.toLowerCase() === 'x-forwarded-for');
  setHeader(list, 'x-forwarded-for', existing ? `${existing[1]}, ${address}` : address);
}

/** Flattens a header list for `writeHead` / `http.request`. */
export function flatten(list: HeaderList): string[] {
  const out: string[] = [];
  for (const [n, v] of list) out.push(n, v);
  return out;
}

/** The address of a socket's peer, without the IPv4-mapped prefix. */
export function peerAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? '127.0.0.1';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** Serialises a complete HTTP/1.1 response for a raw socket (upgrade paths, parse errors). */
export function rawResponse(
  status: number,
  headers: HeaderList,
  body: string,
  close = true,
): string {
  const bytes = Buffer.byteLength(body);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  lines.push(`content-length: ${bytes}`);
  if (close) lines.push('connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Serialises a response head (the upstream's 101, or a non-101 answer to an upgrade). */
export function rawHead(status: number, message: string | undefined, headers: HeaderList): string {
  const lines = [`HTTP/1.1 ${status} ${message ?? STATUS_CODES[status] ?? ''}`];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
