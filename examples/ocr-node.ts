/**
 * The Service Connect incident's OCR endpoint on plain node:http: `node --import tsx examples/ocr-node.ts`.
 *
 *   curl localhost:3000/outlast/jobs/ocr -H 'content-type: application/json' -d '{"document":"scan.pdf"}'
 *   curl -N localhost:3000/outlast/jobs/{jobId}/events        # SSE, rotates every 12 s
 *   curl localhost:3000/outlast/jobs/{jobId}                  # the result, for an hour
 *
 * WebSocket at ws://localhost:3000/outlast/jobs/{jobId}/events?lastEventId=
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetrics } from '../src/metrics/index.js';
import { attachWebSocket, createOutlast, hardenServer } from '../src/server/index.js';
import { exampleOptions, listenOn, stopOnSignals } from './ocr-job.js';

const metrics = createMetrics();
const outlast = createOutlast({ ...exampleOptions, metrics });
const server = hardenServer(
  createServer((req, res) => {
    if (req.url === '/metrics') metrics.nodeHandler(req, res);
    else outlast.handleNode(req, res);
  }),
);
attachWebSocket(outlast, server);
server.listen(listenOn.port, listenOn.host, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening on http://${listenOn.host}:${port}`);
});
stopOnSignals(outlast, server);
