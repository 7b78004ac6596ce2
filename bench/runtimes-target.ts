/**
 * bench:runtimes' server, bundled and run on Node, Bun or Deno: one outlast server on port 0
 * (node:http + handleNode, `outlast/bun`, `outlast/deno`), a stream `fan`, and two bench
 * routes: `POST /bench/publish?data=...` publishes one event and answers how long the publish
 * call took (the store hands it to every subscriber's transport before it resolves), and
 * `GET /bench/rss` answers the process's resident memory. Prints `PORT n`.
 */
import { bunHandlers } from '../src/server/adapters/bun.js';
import { denoHandler } from '../src/server/adapters/deno.js';
import { createOutlast } from '../src/server/outlast.js';

interface BunLike {
  serve(options: Record<string, unknown>): { port: number };
}
interface DenoLike {
  serve(
    options: Record<string, unknown>,
    handler: (r: Request) => Promise<Response>,
  ): {
    addr: { port: number };
  };
  memoryUsage(): { rss: number };
}
const bun = (globalThis as { Bun?: BunLike }).Bun;
const deno = (globalThis as { Deno?: DenoLike }).Deno;
declare const process: { memoryUsage(): { rss: number } };

const outlast = createOutlast({
  heartbeatMs: 60_000,
  maxConnections: 1_000_000,
  maxConnectionsPerStream: 1_000_000,
  onError: () => {},
});
await outlast.publish('fan', { data: 'start' });

const rss = () => (deno !== undefined ? deno.memoryUsage().rss : process.memoryUsage().rss);

async function bench(request: Request): Promise<Response | null> {
  const url = new URL(request.url);
  if (url.pathname === '/bench/publish') {
    const t0 = performance.now();
    await outlast.publish('fan', { data: url.searchParams.get('data') ?? '' });
    return Response.json({ publishMs: performance.now() - t0 });
  }
  if (url.pathname === '/bench/rss') return Response.json({ rss: rss() });
  return null;
}

let port: number;
if (bun !== undefined) {
  const handlers = bunHandlers(outlast);
  const server = bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    ...handlers,
    fetch: async (request: Request, s: Parameters<typeof handlers.fetch>[1]) =>
      (await bench(request)) ?? handlers.fetch(request, s),
  });
  port = server.port;
} else if (deno !== undefined) {
  const handler = denoHandler(outlast);
  const server = deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => {} }, async (r) => {
    return (await bench(r)) ?? handler(r);
  });
  port = server.addr.port;
} else {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/bench/')) {
      void bench(new Request(`http://127.0.0.1${req.url}`, { method: req.method })).then(
        async (response) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(await response!.text());
        },
      );
      return;
    }
    outlast.handleNode(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
}
console.log(`PORT ${port}`);
