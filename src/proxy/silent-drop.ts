import type { Socket } from 'node:net';

/**
 * A silent drop (AWS NLB, NAT tables): when the idle clock fires the intermediary forgets the
 * connection without telling anyone. Nothing more reaches either side, and whoever sends next
 * gets a RST. A silent stream therefore looks alive to the client until it, or the server,
 * sends again: only a stall detector or a marker that never arrives tells.
 *
 * Each side is reset when it sends; when the client goes, the upstream connection is released
 * too (its server would only learn at its next send), so nothing outlives the client.
 */
export function blackhole(client: Socket, upstream: Socket | null): void {
  const reset = (socket: Socket): void => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };
  detachFromHttp(client);
  client.on('error', () => {});
  client.on('data', () => reset(client));
  client.resume();
  client.once('close', () => {
    if (upstream !== null) reset(upstream);
  });
  if (upstream !== null) {
    upstream.on('error', () => {});
    upstream.on('data', () => reset(upstream));
    // Keep reading, so the upstream's next bytes are seen (and answered with a RST).
    upstream.resume();
  }
}

/**
 * Takes a server socket away from Node's HTTP parser, as Node itself does on an upgrade: the
 * parser reads TCP sockets natively (no `data` events), and would answer what the client sends
 * next (a 400, a pipelined request) where a dropped connection must answer nothing.
 */
function detachFromHttp(socket: Socket): void {
  const parser = (socket as unknown as { parser?: { unconsume?: () => void } | null }).parser;
  try {
    parser?.unconsume?.();
  } catch {
    // Not consumed natively (older runtimes): the listeners below are enough.
  }
  socket.removeAllListeners('data');
  socket.removeAllListeners('end');
}
