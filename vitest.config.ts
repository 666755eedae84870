import { defineConfig } from 'vitest/config';

// Tests wait for conditions (a webhook, a log line, a metric), each with its own bound; the
// per-test timeout only has to be longer than those on a loaded 2-core machine.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    include: ['test/**/*.test.ts'],
    exclude: ['test/live/**'],
  },
});
