import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, type CutReport, connect } from '../../src/client/index.js';
import { createProxy } from '../../src/proxy/index.js';
import type { TestServer } from '../helpers/server.js';
import { proxyFor, startTestServer, testOptions, until } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const http: Server = createServer(handler);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    http.closeAllConnections();
    return new Promise((r) => http.close(r));
  });
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

async function server(options = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  cleanups.push(() => s.close());
  return s;
}

/** Connects and resolves with the first cut. */
function firstCut(conn: Connection): Promise<CutReport> {
  cleanups.push(() => conn.close());
  return new Promise((resolve) => {
    const off = conn.on('cut', (c) => {
      off();
      resolve(c);
    });
  });
}

describe('every lost connection gets a cause', () => {
  it('intermediary-error: a 524 before headers, with status and server header', async () => {
    const hanging = await fixture(() => {
      // Never answers: the hop's first-byte clock answers for it.
    });
    const proxy = await createProxy({ target: hanging, preset: 'cloudflare', timeScale: 0.002 });
    cleanups.push(() => proxy.close());
    const cut = await firstCut(connect(`${proxy.url}/outlast/streams/x`, testOptions()));
    expect(cut).toMatchObject({
      cause: 'intermediary-error',
      status: 524,
      server: 'cloudflare',
      opened: false,
    });
    expect(cut.sinceOpenMs).toBeGreaterThanOrEqual(150);
  });

  it('mid-stream-eof: an idle clock closes the stream after its headers', async () => {
    const s = await server({ heartbeatMs: 2_000 });
    await s.outlast.publish('a', { data: 1 });
    const proxy = await proxyFor(s, { knobs: { idleMs: 150 } });
    cleanups.push(() => proxy.close());
    const cut = await firstCut(connect(`${proxy.base}/streams/a`, testOptions({ learn: false })));
    expect(cut).toMatchObject({ cause: 'mid-stream-eof', transport: 'sse', opened: true });
    expect(cut.sinceLastByteMs).toBeGreaterThanOrEqual(120);
    expect(cut.sinceOpenMs).toBeGreaterThanOrEqual(cut.sinceLastByteMs - 5);
  });

  it('network-error: a reset mid-stream', async () => {
    const s = await server({ heartbeatMs: 2_000 });
    await s.outlast.publish('a', { data: 1 });
    const proxy = await proxyFor(s, { knobs: { idleMs: 150, cut: 'rst' } });
    cleanups.push(() => proxy.close());
    const cut = await firstCut(connect(`${proxy.base}/streams/a`, testOptions({ learn: false })));
    expect(cut).toMatchObject({ cause: 'network-error', opened: true });
  });

  it('network-error: a connection refused before any answer', async () => {
    const s = await server();
    const proxy = await proxyFor(s, { knobs: { refuseConnections: true } });
    cleanups.push(() => proxy.close());
    const cut = await firstCut(connect(`${proxy.base}/streams/a`, testOptions()));
    expect(cut).toMatchObject({ cause: 'network-error', opened: false });
  });

  it('stall: headers announce a heartbeat, then no byte comes', async () => {
    const url = await fixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'outlast-heartbeat': '50' });
      res.flushHeaders();
    });
    const cut = await firstCut(connect(`${url}/outlast/streams/a`, testOptions({ learn: false })));
    expect(cut).toMatchObject({ cause: 'stall', opened: true, bytes: 0, heartbeatMs: 50 });
    expect(cut.sinceLastByteMs).toBeGreaterThanOrEqual(140);
  });

  it('server-rotation: the server rotates at maxStream and the client resumes at once', async () => {
    const s = await server({ heartbeatMs: 50 });
    await s.outlast.publish('a', { data: 1 });
    const conn = connect(`${s.base}/streams/a`, testOptions({ maxStreamMs: 150 }));
    const cut = await firstCut(conn);
    expect(cut.cause).toBe('server-rotation');
    const delays: number[] = [];
    conn.on('reconnecting', (r) => delays.push(r.delayMs));
    await until(() => delays.length > 0, 'a second rotation');
    expect(delays[0]).toBe(0);
  });

  it('reports causes to {base}/reports in batches', async () => {
    const s = await server({ heartbeatMs: 2_000 });
    await s.outlast.publish('a', { data: 1 });
    const proxy = await proxyFor(s, { knobs: { idleMs: 80 } });
    cleanups.push(() => proxy.close());
    const posts: Array<{ reports: Array<Record<string, unknown>> }> = [];
    const conn = connect(
      `${proxy.base}/streams/a`,
      testOptions({
        learn: false,
        reports: true,
        reportDelayMs: 300,
        fetch: async (u, init) => {
          if (init?.method === 'POST') posts.push(JSON.parse(String(init.body)));
          return fetch(u, init);
        },
      }),
    );
    cleanups.push(() => conn.close());
    await until(() => posts.length > 0, 'a report batch', 5_000);
    const batch = posts[0]!.reports;
    expect(batch.length).toBeGreaterThan(1);
    expect(batch[0]).toMatchObject({ cause: 'mid-stream-eof', transport: 'sse' });
    expect(Object.keys(batch[0]!).sort()).toEqual(
      ['atMs', 'cause', 'origin', 'sinceLastByteMs', 'sinceOpenMs', 'transport'].sort(),
    );
  });
});
