/**
 * bench:runtimes on workerd: outlast/workers with the stream `fan` in its Durable Object, and
 * `POST /bench/publish?data=...` publishing through the object (timed inside the Worker).
 */
import { createOutlastObject, createWorker, publish } from '../src/workers/index.js';

export const OutlastObject = createOutlastObject({
  heartbeatMs: 60_000,
  maxConnections: 1_000_000,
  maxConnectionsPerStream: 1_000_000,
  onError: () => {},
});

export default createWorker({
  async fallback(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== '/bench/publish') return new Response('not found', { status: 404 });
    const ns = (env as { OUTLAST: Parameters<typeof publish>[0] }).OUTLAST;
    const t0 = performance.now();
    await publish(ns, 'fan', { data: url.searchParams.get('data') ?? '' });
    return Response.json({ publishMs: performance.now() - t0 });
  },
});
