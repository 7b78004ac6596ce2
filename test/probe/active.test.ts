import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rawExchange, runActiveProbes } from '../../src/probe/engine/active.js';

/*
 * The active probes against hostile peers: silence, garbage, a reset mid-head, a peer that
 * closes at once, a never-ending head. Each resolves (never rejects) within its timeout with
 * what it saw, and leaves no socket open.
 */

const servers: Server[] = [];
const sockets = new Set<Socket>();

async function peer(onData: (s: Socket) => void): Promise<URL> {
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.once('data', () => onData(s));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/outlast-probe`);
}

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  // Every socket the probes opened is gone.
  await new Promise((r) => setTimeout(r, 50));
  expect(sockets.size).toBe(0);
});

describe('active probes against hostile peers', () => {
  it('silence: no answer after the timeout', async () => {
    const url = await peer(() => {});
    const t0 = performance.now();
    const a = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 300);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(a.status).toBeNull();
    expect(a.detail).toMatch(/^timeout/);
  });

  it('garbage, a reset, a close at once, a head that never ends: nothing thrown, no status', async () => {
    const cases: Array<(s: Socket) => void> = [
      (s) => s.end('\x00\xff not http at all\r\n\r\n'),
      (s) => s.resetAndDestroy(),
      (s) => s.end(),
      (s) => s.write(`HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(50_000)}`),
    ];
    for (const c of cases) {
      const url = await peer(c);
      const a = await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 400);
      expect(a.status).toBeNull();
      expect(a.detail).toBeTruthy();
    }
  });

  it('a chunked page is read as its data; every probe resolves against a peer that answers 400', async () => {
    const url = await peer((s) =>
      s.end(
        'HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nServer: hostile\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      ),
    );
    const answers = await runActiveProbes(url.href, 'tok', 1000);
    expect(answers.map((a) => a.probe)).toEqual([
      'bad-method',
      'max-forwards-0',
      'max-forwards-1',
      'max-forwards-2',
      'long-header',
    ]);
    for (const a of answers) expect(a).toMatchObject({ status: 400, body: 'hello world' });
  });
});
