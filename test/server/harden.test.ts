import { createServer } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { hardenServer } from '../../src/server/index.js';

describe('hardenServer', () => {
  it('keeps idle keep-alive connections past a 60 s load balancer and never times out a response', () => {
    const server = hardenServer(createServer());
    expect(server.keepAliveTimeout).toBe(65_000);
    expect(server.headersTimeout).toBeGreaterThan(server.keepAliveTimeout);
    expect(server.requestTimeout).toBe(0);
    expect(server.timeout).toBe(0);
    const custom = hardenServer(createServer(), {
      keepAliveTimeoutMs: 610_000,
      headersTimeoutMs: 5,
    });
    expect(custom.keepAliveTimeout).toBe(610_000);
    expect(custom.headersTimeout).toBeGreaterThan(610_000);
  });

  it('holds a reused connection open longer than Node’s default 5 s keep-alive (scaled)', async () => {
    // Scaled: 300 ms keep-alive stands for 65 s; the connection must survive a 200 ms idle gap.
    const server = hardenServer(
      createServer((_req, res) => res.end('ok')),
      { keepAliveTimeoutMs: 300 },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const socket = connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.on('data', (d) => {
      text += d;
    });
    const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(request);
    await new Promise((r) => setTimeout(r, 200));
    socket.write(request);
    await new Promise((r) => setTimeout(r, 100));
    expect(text.match(/HTTP\/1.1 200/g)?.length).toBe(2);
    socket.destroy();
    server.close();
  });
});
