/**
 * The Service Connect incident's OCR endpoint as one of several instances sharing a Redis:
 *
 *   REDIS_URL=redis://127.0.0.1:6380 PORT=3001 node --import tsx examples/ocr-redis.ts &
 *   REDIS_URL=redis://127.0.0.1:6380 PORT=3002 node --import tsx examples/ocr-redis.ts &
 *   curl localhost:3001/outlast/jobs/ocr -H 'content-type: application/json' -d '{"document":"scan.pdf"}'  # on one
 *   curl -N localhost:3002/outlast/jobs/{jobId}/events                         # from the other
 *
 * Put any load balancer in front (no sticky sessions needed). Exits at once with a clear
 * message when Redis cannot be reached.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachWebSocket, createOutlast, hardenServer } from '../src/server/index.js';
import { createRedisStore } from '../src/store/redis/index.js';
import { exampleOptions, listenOn, stopOnSignals } from './ocr-job.js';

const store = await createRedisStore().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
const outlast = createOutlast({ ...exampleOptions, store });
const server = hardenServer(createServer(outlast.handleNode));
attachWebSocket(outlast, server);
server.listen(listenOn.port, listenOn.host, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening on http://${listenOn.host}:${port} (instance ${store.instanceId})`);
});
stopOnSignals(outlast, server, () => store.close());
