import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rawExchange } from '../../src/probe/engine/active.js';
import { createProbeHandler } from '../../src/probe/index.js';
import { isLoopback, startProbeServer } from '../../src/probe/server/standalone.js';

describe('probe endpoints', () => {
  it('TRACE (which fetch cannot carry) gets its own 405 and OPTIONS * a 404, the server lives on; echo keeps raw header case and order', async () => {
    const server = await startProbeServer({});
    try {
      const url = new URL(server.url);
      const star = await rawExchange(
        url,
        'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        3000,
      );
      expect(star.status).toBe(404);
      for (const line of ['TRACE /outlast-probe/echo', 'TRACE /outlast-probe/info']) {
        const answer = await rawExchange(
          url,
          `${line} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n`,
          3000,
        );
        expect(answer.status, line).toBe(405);
        expect(JSON.parse(answer.body).error.code, line).toBe('bad-request');
      }
      const echo = await rawExchange(
        url,
        'GET /outlast-probe/echo HTTP/1.1\r\nHost: x\r\nX-Hop-B: 2\r\nx-hop-a: 1\r\nConnection: close\r\n\r\n',
        3000,
      );
      const raw = JSON.parse(echo.body).rawHeaders as Array<[string, string]>;
      expect(raw.map(([n]) => n)).toEqual(['Host', 'X-Hop-B', 'x-hop-a', 'Connection']);
      const info = await fetch(`${server.url}/info`);
      expect(info.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('the fetch-style adapter: info, echo, holds, streams; null outside the base path', async () => {
    const probe = createProbeHandler({ basePath: '/p' });
    expect(await probe.fetch(new Request('http://x/other'))).toBeNull();
    const info = await (await probe.fetch(new Request('http://x/p/info')))!.json();
    expect(info).toMatchObject({ protocol: 'outlast-probe/1', maxHoldMs: 900_000 });
    const echo = await (await probe.fetch(
      new Request('http://x/p/echo', { headers: { 'x-forwarded-for': '1.2.3.4' } }),
    ))!.json();
    expect(echo.headers).toContainEqual(['x-forwarded-for', '1.2.3.4']);
    const t0 = performance.now();
    const held = await probe.fetch(new Request('http://x/p/hold?ms=120'));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
    expect(await held!.text()).toBe('held 120 ms\n');
    const marker = await probe.fetch(new Request('http://x/p/marker?after=50'));
    expect(marker!.headers.get('x-accel-buffering')).toBe('no');
    expect(await marker!.text()).toMatch(/^: open \d+\n\nevent: marker\ndata: \d+\n\n$/);
    const train = await probe.fetch(new Request('http://x/p/train?interval=5&count=4&size=64'));
    expect(train!.headers.get('x-accel-buffering')).toBeNull();
    expect((await train!.text()).match(/^id: \d$/gm)).toHaveLength(4);
    expect(probe.held).toBe(0);
  });

  it('limits: max hold (400), concurrency and rate (429 with Retry-After), token (401)', async () => {
    const probe = createProbeHandler({
      maxHoldMs: 1000,
      maxConcurrent: 1,
      maxRequestsPerMinute: 5,
      token: 't',
    });
    const r401 = await probe.fetch(new Request('http://x/outlast-probe/info?token=wrong'));
    expect(r401!.status).toBe(401);
    expect((await r401!.json()).error.message).toContain('wrong probe token');
    expect(
      (await probe.fetch(new Request('http://x/outlast-probe/hold?ms=5000&token=t')))!.status,
    ).toBe(400);
    const controller = new AbortController();
    const hold = probe.fetch(
      new Request('http://x/outlast-probe/hold?ms=500&token=t', { signal: controller.signal }),
    );
    const busy = await probe.fetch(new Request('http://x/outlast-probe/silence?ms=10&token=t'));
    expect(busy!.status).toBe(429);
    controller.abort();
    await hold;
    for (let i = 0; i < 3; i++)
      await probe.fetch(new Request('http://x/outlast-probe/info?token=t'));
    const limited = await probe.fetch(new Request('http://x/outlast-probe/info?token=t'));
    expect(limited!.status).toBe(429);
    expect(limited!.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('the Node adapter and WebSockets on a real server; next() for other paths', async () => {
    const probe = createProbeHandler();
    const server = createServer((req, res) =>
      probe.handleNode(req, res, () => res.writeHead(418).end()),
    );
    probe.attachWebSocket(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/app`)).status).toBe(418);
    const res = await fetch(`${base}/outlast-probe/chatty?heartbeat=20&ms=100`);
    expect((await res.text()).match(/^: hb \d+$/gm)!.length).toBeGreaterThanOrEqual(4);
    const frames: string[] = [];
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(
        `${base.replace('http', 'ws')}/outlast-probe/ws?mode=chatty&heartbeat=20&ms=100`,
      );
      ws.on('message', (d) => frames.push(JSON.parse(String(d)).type));
      ws.on('close', () => resolve());
    });
    expect(frames[0]).toBe('open');
    expect(frames.at(-1)).toBe('end');
    expect(frames.filter((f) => f === 'hb').length).toBeGreaterThanOrEqual(4);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('the standalone server requires a token beyond loopback', async () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('0.0.0.0')).toBe(false);
    const s = await startProbeServer({ host: '0.0.0.0' });
    expect(s.token).toMatch(/^[\w-]{20,}$/);
    expect((await fetch(`${s.url}/info`)).status).toBe(401);
    expect((await fetch(`${s.url}/info?token=${s.token}`)).status).toBe(200);
    expect(s.pageUrl).toContain(`token=${s.token}`);
    await s.close();
  });
});
