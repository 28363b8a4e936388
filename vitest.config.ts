import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/fixtures/failing-setup/ is run by test/stack-provisioning.test.ts with a broken stack.
    exclude: ['test/fixtures/**', '**/node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    // Temporal workers run native code: one process per test file, files one at a time on 2 cores.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
