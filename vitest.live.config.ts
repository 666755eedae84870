import { defineConfig } from 'vitest/config';

// The live suite: real PBXes from ../shared/pbx, real SIP calls. One file at a time (the
// PBXes hold fixed loopback ports), each waiting for conditions with its own bounds.
export default defineConfig({
  test: {
    include: ['test/live/**/*.live.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
