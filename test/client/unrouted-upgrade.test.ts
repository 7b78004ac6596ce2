import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CutReport, connect } from '../../src/client/index.js';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import { collect, testOptions } from './helpers.js';

/*
 * A WebSocket upgrade the app's server does not route: Hono on @hono/node-server hands the
 * upgrade request to outlast.fetch, which answers it as SSE with a 200. No hop is there, and
 * the cut says what was seen: server-error, HTTP 200, "instead of 101". The client then
 * moves to SSE and reads every event.
 */

let outlast: Outlast;
let server: ReturnType<typeof serve>;
let base: string;
beforeAll(async () => {
  outlast = createOutlast({ heartbeatMs: 200, minHeartbeatMs: 100, onError: () => {} });
  const app = new Hono();
  app.all('/outlast/*', (c) => outlast.fetch(c.req.raw));
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/outlast`;
});
afterAll(async () => {
  await outlast.close();
  await new Promise((r) => server.close(r));
});

describe('an upgrade the server does not route', () => {
  it('is a server-error with the status seen, then SSE carries the stream', async () => {
    await outlast.publish('hono', { event: 'tick', data: 0 });
    const conn = connect(`${base}/streams/hono`, testOptions({ transports: ['ws', 'sse'] }));
    const cuts: CutReport[] = [];
    conn.on('cut', (c) => cuts.push(c));
    setTimeout(() => {
      void outlast.publish('hono', { event: 'tick', data: 1 }).then(() => outlast.end('hono'));
    }, 300);
    const events = await collect(conn);
    expect(events.map((e) => e.data)).toEqual(['0', '1']);
    expect(cuts[0]).toMatchObject({ transport: 'ws', cause: 'server-error', status: 200 });
    expect(cuts[0]!.message).toContain('answered HTTP 200 instead of 101 Switching Protocols');
    expect(cuts.some((c) => c.cause === 'intermediary-error')).toBe(false);
    expect(conn.transport).toBe('sse');
  });
});
