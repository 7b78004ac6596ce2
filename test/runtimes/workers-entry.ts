/*
 * The Worker the workerd tests run (bundled by test/runtimes/workerd.test.ts): outlast/workers
 * with one job handler, scaled clocks, and two test routes that publish to and end a stream
 * through its object.
 */
import { createOutlastObject, createWorker, end, publish } from '../../src/workers/index.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const OutlastObject = createOutlastObject({
  heartbeatTickMs: 20,
  minHeartbeatMs: 100,
  minMaxStreamMs: 100,
  keepAliveMs: 200,
  maxEventsPerStream: 50,
  // Counted by CF-Connecting-IP (the objects' default); requests without it are not counted.
  maxConnectionsPerAddress: 2,
  onError: () => {},
  jobs: {
    steps: async (ctx: {
      input: { steps: number; ms: number };
      progress(d: unknown): Promise<void>;
    }) => {
      for (let step = 1; step <= ctx.input.steps; step++) {
        await sleep(ctx.input.ms);
        await ctx.progress({ step });
      }
      return { steps: ctx.input.steps };
    },
  },
});

type Env = { OUTLAST: Parameters<typeof publish>[0] };

export default createWorker({
  async fallback(request, env) {
    const url = new URL(request.url);
    const ns = (env as Env).OUTLAST;
    const body = (await request.json()) as { streamId: string; data?: unknown; event?: string };
    try {
      if (url.pathname === '/test/publish') {
        return Response.json({ id: await publish(ns, body.streamId, body) });
      }
      if (url.pathname === '/test/end') {
        await end(ns, body.streamId, body.data === undefined ? undefined : body);
        return Response.json({});
      }
    } catch (error) {
      return Response.json({ code: (error as { code?: string }).code }, { status: 400 });
    }
    return new Response('not found', { status: 404 });
  },
});
