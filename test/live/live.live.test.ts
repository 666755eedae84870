/** The live suite must really run where CI runs it; elsewhere it says what it needs. */
import { describe, expect, it } from 'vitest';
import { LIVE } from './harness.js';

describe('the live suite', () => {
  it('has a PBX kit and sipp here (required under CI)', () => {
    if (!LIVE.ready && !process.env.CI) {
      process.stderr.write(`live suite skipped: missing ${LIVE.missing.join(', ')}\n`);
      return;
    }
    expect(LIVE.missing).toEqual([]);
  });
});
