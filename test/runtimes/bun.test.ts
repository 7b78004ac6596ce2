import { vi } from 'vitest';

/*
 * The shared server suite on Bun: every server `startServer` makes lives in one Bun
 * process, served by `outlast/bun` (Bun.serve with its websocket handlers); see ./remote.ts.
 */
vi.mock('../helpers/server.js', async (original) =>
  (await import('./remote.js')).serverModule('bun', await original<object>()),
);
vi.mock('../../src/store/index.js', async (original) =>
  (await import('./remote.js')).storeModule(await original<object>()),
);

await (await import('./remote.js')).runtimeSuite('bun');
