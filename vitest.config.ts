import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real brokers and servers on port 0; files run in parallel forks.
    pool: 'forks',
    reporters: ['default'],
  },
});
