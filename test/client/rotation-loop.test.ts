import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { testOptions } from './helpers.js';

/*
 * A rotation reconnects at once, but a server (or a hop) that rotates every response right
 * after its open notice must not make the client loop: after a few quick ones in a row the
 * reconnects back off, as quick healthy cuts do.
 */

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An outlast-looking SSE server that answers the open notice and then `outlast.rotate`. */
async function rotatingServer(): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'outlast-heartbeat': '1000' });
    res.end(
      ': outlast\nevent: outlast.open\ndata: {"heartbeatMs":1000,"maxStreamMs":null,"resume":"fresh"}\n\n' +
        'event: outlast.rotate\ndata: {"reconnectMs":0}\n\n',
    );
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/outlast/streams/s`, requests: () => requests };
}

describe('rotations', () => {
  it('that come right after every open back off after a few, instead of looping', async () => {
    const { url, requests } = await rotatingServer();
    const conn = connect(url, testOptions({ transports: ['sse'], protocol: 'outlast' }));
    const delays: number[] = [];
    conn.on('reconnecting', (r) => delays.push(r.delayMs));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    conn.close();
    // Before, every rotation reconnected at once: hundreds of requests a second.
    expect(requests()).toBeLessThanOrEqual(40);
    expect(requests()).toBeGreaterThanOrEqual(6);
    // The first few still go at once; then a backoff starts.
    expect(delays.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(delays.slice(6).some((ms) => ms > 0)).toBe(true);
  });
});
