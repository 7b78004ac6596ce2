import { describe, expect, it, vi } from 'vitest';
import { startServer } from '../helpers/server.js';

/*
 * The whole server suite again, on the Redis store: `startServer` (test/helpers/server.ts)
 * is wrapped so that every server it starts without an explicit store gets a Redis store of
 * its own (on this file's redis-server), closed with the server. Tests that pass their own
 * memory store (to tune its limits) keep it. The suites themselves are imported unchanged.
 */
vi.mock('../helpers/server.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../helpers/server.js')>();
  const { testRedisStore } = await import('../helpers/redis-store.js');
  return {
    ...original,
    startServer: async (options: Parameters<typeof original.startServer>[0] = {}) => {
      if (options.store !== undefined) return original.startServer(options);
      const store = await testRedisStore();
      const server = await original.startServer({ ...options, store });
      const close = server.close;
      server.close = async () => {
        await close();
        await store.close();
      };
      return server;
    },
  };
});

await import('../server/transports.test.js');
await import('../server/jobs.test.js');
await import('../server/bad-input.test.js');
await import('../server/metrics.test.js');

describe('the server suite above', () => {
  it('ran on the Redis store', async () => {
    const server = await startServer();
    expect(server.outlast.store).toHaveProperty('instanceId');
    await server.close();
  });
});
