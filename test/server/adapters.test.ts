import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { attachWebSocket, createOutlast, type Outlast } from '../../src/server/index.js';
import { connect, eventsOf, type TransportKind } from '../helpers/clients.js';
import { closeIdle, sleep, until } from '../helpers/server.js';

/** One framework hosting outlast on a real server, port 0. */
interface Hosted {
  outlast: Outlast;
  origin: string;
  close(): Promise<void>;
}

const options = {
  heartbeatTickMs: 20,
  minHeartbeatMs: 100,
  onError: () => {},
  jobs: {
    double: async (ctx: { input: { n: number }; progress(d: unknown): Promise<void> }) => {
      await ctx.progress('half');
      await sleep(20);
      return ctx.input.n * 2;
    },
  },
};

function listening(server: Server, outlast: Outlast): Hosted {
  attachWebSocket(outlast, server);
  const { port } = server.address() as AddressInfo;
  return {
    outlast,
    origin: `http://127.0.0.1:${port}`,
    async close() {
      await outlast.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const frameworks: [string, () => Promise<Hosted>][] = [
  [
    'Express',
    async () => {
      const outlast = createOutlast(options);
      const app = express();
      app.use(express.json()); // the adapter reads an already parsed body
      app.use(outlast.handleNode);
      app.use((_req, res) => {
        res.status(418).end();
      });
      const server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      return listening(server, outlast);
    },
  ],
  [
    'Fastify',
    async () => {
      const outlast = createOutlast(options);
      const app = Fastify();
      // Leave the body unread: the adapter reads it (and bounds it) itself.
      app.removeAllContentTypeParsers();
      app.addContentTypeParser('*', (_req, _payload, done) => done(null));
      app.all('/outlast/*', (request, reply) => {
        reply.hijack();
        outlast.handleNode(request.raw, reply.raw);
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return listening(app.server, outlast);
    },
  ],
  [
    'Hono (@hono/node-server)',
    async () => {
      const outlast = createOutlast(options);
      const app = new Hono();
      app.all('/outlast/*', (c) => outlast.fetch(c.req.raw));
      const server = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
          resolve(s as Server),
        ) as Server;
      });
      return listening(server, outlast);
    },
  ],
];

let hosted: Hosted | undefined;
afterEach(async () => {
  const h = hosted;
  hosted = undefined;
  await closeIdle(h); // every test is a leak test
});

describe.each(frameworks)('adapter: %s', (_name, host) => {
  it.each<TransportKind>(['sse', 'ws', 'poll'])('reads a stream live over %s', async (kind) => {
    hosted = await host();
    const base = `${hosted.origin}/outlast`;
    await hosted.outlast.publish('s', { data: 'a' });
    const conn = connect(kind, base, 's', { query: { heartbeat: '100' } });
    await conn.waitFor((m) => m.type === 'event' && m.data === 'a');
    await hosted.outlast.publish('s', { data: 'b' });
    await conn.waitFor((m) => m.type === 'event' && m.data === 'b');
    if (kind !== 'poll') await conn.waitFor((m) => m.type === 'heartbeat');
    conn.cut();
    // The framework tells the adapter the client left: the slot is freed.
    await until(() => hosted!.outlast.connections === 0, 'the connection to be released');
  });

  it('starts a named job from a JSON body and serves its result', async () => {
    hosted = await host();
    const base = `${hosted.origin}/outlast`;
    const res = await fetch(`${base}/jobs/double`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 21 }),
    });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    const conn = connect('sse', base, jobId);
    await conn.finished;
    expect(eventsOf(conn.messages).map((e) => e.data)).toEqual(['half', '{"result":42}']);
    const record = await (await fetch(`${base}/jobs/${jobId}`)).json();
    expect(record).toMatchObject({ state: 'succeeded', result: 42, name: 'double' });
  });

  it('answers SSE with the streaming headers flushed at once', async () => {
    hosted = await host();
    await hosted.outlast.publish('s', { data: 'a' });
    const controller = new AbortController();
    const res = await fetch(`${hosted.origin}/outlast/streams/s`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('outlast-heartbeat')).toBe('15000');
    const { value } = await res.body!.getReader().read();
    expect(new TextDecoder().decode(value)).toMatch(/^: outlast\nretry: 1000\n/);
    controller.abort();
  });
});
