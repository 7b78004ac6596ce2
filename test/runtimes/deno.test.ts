import { vi } from 'vitest';

/*
 * The shared server suite on Deno: every server `startServer` makes lives in one Deno
 * process, served by `outlast/deno` (Deno.serve with Deno.upgradeWebSocket); see ./remote.ts.
 */
vi.mock('../helpers/server.js', async (original) =>
  (await import('./remote.js')).serverModule('deno', await original<object>()),
);
vi.mock('../../src/store/index.js', async (original) =>
  (await import('./remote.js')).storeModule(await original<object>()),
);

await (await import('./remote.js')).runtimeSuite('deno');
