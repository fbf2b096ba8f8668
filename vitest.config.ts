import { defineConfig } from 'vitest/config'

// One run covers every workspace. Unit tests are fast; cross-process tests (test/e2e) start real processes
// and get longer timeouts. Files run in parallel across 2 workers: the machine has 2 cores.
export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'node/test/**/*.test.ts',
      'tracker/test/**/*.test.ts',
      'web-ui/test/**/*.test.ts',
      'test/e2e/**/*.test.ts'
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default']
  }
})
