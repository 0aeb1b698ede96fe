import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real brokers and servers on port 0; files run in parallel forks.
    pool: 'forks',
    // One file more than cores (vitest's default is one fewer): most of a file's time is spent
    // waiting on a daemon, a broker or a browser it started. On 2 cores: 317 s against 685 s.
    maxWorkers: availableParallelism() + 1,
    reporters: ['default'],
  },
});
