import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: run files one at a time so timing-sensitive pools and llama.cpp don't starve.
    fileParallelism: false,
    env: { UV_THREADPOOL_SIZE: '1' },
  },
});
