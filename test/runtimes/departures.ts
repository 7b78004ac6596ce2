import { connect as netConnect } from 'node:net';
import { afterEach, describe, it } from 'vitest';
import { connect, type TransportKind } from '../helpers/clients.js';
import { expectIdle, sleep, startServer, type TestServer } from '../helpers/server.js';

/*
 * Clients that leave early must leave nothing registered in the runtime's binding: during a
 * slow authorize, and (WebSocket) right after the upgrade request, before the socket opens.
 * Registered by the runtime suites (./remote.ts), where the servers live in Bun or Deno.
 */

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe.each<TransportKind>(['sse', 'ws', 'poll'])('clients that leave early, %s', (kind) => {
  it('hold nothing after 5 clients leave during authorize', async () => {
    server = await startServer({
      authorize: async () => {
        await sleep(300);
        return true;
      },
    });
    const head = await server.outlast.publish('s', { data: 'a' });
    const conns = Array.from({ length: 5 }, () =>
      connect(kind, server!.base, 's', { lastEventId: head, query: { wait: '5000' } }),
    );
    await sleep(100);
    for (const conn of conns) conn.cut();
    await sleep(300);
    await expectIdle(server.outlast, 2000);
  });
});

describe('WebSocket upgrades cut before the socket opens', () => {
  it('hold nothing after 20 upgrade requests are reset at once', async () => {
    // Deno tells nothing of a socket whose client left before its 101: the slot is freed
    // when the socket has not opened within wsHelloTimeoutMs.
    server = await startServer({ wsHelloTimeoutMs: 300 });
    await server.outlast.publish('s', { data: 'a' });
    const { port } = new URL(server.origin);
    const sockets = Array.from({ length: 20 }, () => {
      const socket = netConnect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        'GET /outlast/streams/s?lastEventId= HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      return socket;
    });
    await sleep(5);
    for (const socket of sockets) socket.resetAndDestroy();
    await sleep(300);
    await expectIdle(server.outlast, 2000);
  });
});
