/**
 * The Service Connect incident's OCR endpoint on Express: `node --import tsx examples/ocr-express.ts`.
 * Same routes as `ocr-node.ts`; the handler is mounted with `app.use`.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { attachWebSocket, createOutlast, hardenServer } from '../src/server/index.js';
import { exampleOptions, listenOn, stopOnSignals } from './ocr-job.js';

const outlast = createOutlast(exampleOptions);
const app = express();
app.get('/', (_req, res) => {
  res.send('POST /outlast/jobs/ocr to start a job');
});
// No compression middleware in front of it: it would buffer SSE (see docs/server.md).
app.use(outlast.handleNode);
const server = hardenServer(
  app.listen(listenOn.port, listenOn.host, () => {
    const { port } = server.address() as AddressInfo;
    console.log(`listening on http://${listenOn.host}:${port}`);
  }),
);
attachWebSocket(outlast, server);
stopOnSignals(outlast, server);
