/**
 * The Service Connect incident's OCR endpoint on Hono (`@hono/node-server`): `node --import tsx examples/ocr-hono.ts`.
 * The fetch-style handler serves SSE and long-polling; WebSocket attaches to the Node server.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { attachWebSocket, createOutlast, hardenServer } from '../src/server/index.js';
import { exampleOptions, listenOn, stopOnSignals } from './ocr-job.js';

const outlast = createOutlast(exampleOptions);
const app = new Hono();
app.get('/', (c) => c.text('POST /outlast/jobs/ocr to start a job'));
app.all('/outlast/*', (c) => outlast.fetch(c.req.raw));
const server = serve({ fetch: app.fetch, port: listenOn.port, hostname: listenOn.host }, (info) => {
  console.log(`listening on http://${listenOn.host}:${info.port}`);
}) as Server;
hardenServer(server);
attachWebSocket(outlast, server);
stopOnSignals(outlast, server);
