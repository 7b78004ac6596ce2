/**
 * The Service Connect incident from the client's side: `node --import tsx examples/ocr-client.ts`.
 *
 * Starts the OCR server (no rotation configured: the client has to find the clock itself)
 * behind a simulated Cloudflare -> ALB -> ECS Service Connect chain running 20 times faster
 * than life (Service Connect's 15 s clock fires at 750 ms), then starts a job with
 * `connect()` and prints what happens: every cut and its cause, what the client learns,
 * every page, and the result.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { connect } from '../src/client/index.js';
import { createProxy } from '../src/proxy/index.js';
import { attachWebSocket, createOutlast } from '../src/server/index.js';

const SCALE = 0.05;
// The 45 s OCR job of the Service Connect incident, at the same scale (read by ocr-job.ts when it loads).
process.env.OCR_DURATION_MS ??= String(45_000 * SCALE);
const { ocr } = await import('./ocr-job.js');
const outlast = createOutlast({
  jobs: { ocr },
  heartbeatMs: 15_000 * SCALE,
  minHeartbeatMs: 10,
  minMaxStreamMs: 10,
  heartbeatTickMs: 10,
  retryMs: 1_000 * SCALE,
});
const server = createServer(outlast.handleNode);
attachWebSocket(outlast, server);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const proxy = await createProxy({
  target: origin,
  preset: 'cloudflare,aws-alb,aws-service-connect',
  timeScale: SCALE,
});

const conn = connect(`${proxy.url}/outlast/jobs/ocr`, {
  body: { document: 'scan.pdf', pages: 9 },
  // Node 20 has no global WebSocket; browsers and Node >= 22 need no option.
  WebSocket,
  initialDelayMs: 500 * SCALE,
});
conn.on('open', (o) =>
  console.log(`open     ${o.transport} (${o.resume}, rotate: ${o.maxStreamMs ?? 'no'})`),
);
conn.on('cut', (c) =>
  console.log(
    `cut      ${c.cause} after ${Math.round(c.sinceOpenMs)} ms${c.status ? ` (HTTP ${c.status})` : ''}`,
  ),
);
conn.on('learn', (l) => console.log(`learned  ${l.note}`));
conn.on('transport', (t) => console.log(`moved    ${t.from} -> ${t.to}`));
for await (const event of conn) console.log(`${event.type} ${event.data}`);
console.log('result  ', await conn.result);
console.log('profile ', JSON.stringify(conn.pathProfile));

await proxy.close();
await outlast.close();
server.closeAllConnections();
server.close();
