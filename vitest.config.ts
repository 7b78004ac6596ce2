import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real servers and real sockets: separate processes keep one file's listeners and
    // timers from disturbing another's timing measurements.
    pool: 'forks',
  },
});
