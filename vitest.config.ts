import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real brokers, InfluxDB databases and browsers;
    // two cores do not take more than this many files at once.
    maxWorkers: 2,
    pool: 'forks',
  },
})
