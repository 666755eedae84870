/**
 * The hostile-input run (bench/fuzz.ts; `npm run fuzz` does 1M frames) in small: fuzzed AMI
 * and ESL frames through the real decoders and trackers in a 256 MB heap. Nothing may throw,
 * and peak RSS stays bounded.
 */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('20,000 fuzzed frames in a 256 MB heap: nothing throws, peak RSS bounded', () => {
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', 'dist/bench/fuzz.js', '20000', '400'], { encoding: 'utf8', timeout: 110_000 });
  expect(r.status, r.stderr).toBe(0);
  const res = JSON.parse(r.stdout) as { threw: number; peakRssMb: number; events: number };
  expect(res.threw).toBe(0);
  expect(res.events).toBeGreaterThan(0);
  expect(res.peakRssMb).toBeLessThanOrEqual(400);
});
