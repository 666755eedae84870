import { configFrom } from './helpers/config.js';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../src/delivery/breaker.js';
import { delayBeforeAttempt, parseRetryAfter } from '../src/delivery/retry.js';

describe('retry schedule', () => {
  it('gives the configured delay per attempt with at most ±15% jitter, then null (dead)', () => {
    const schedule = [0, 5000, 300000];
    expect(delayBeforeAttempt(schedule, 1, () => 0.99)).toBe(0);
    expect(delayBeforeAttempt(schedule, 2, () => 0)).toBe(4250);
    expect(delayBeforeAttempt(schedule, 2, () => 0.5)).toBe(5000);
    for (let i = 0; i < 50; i++) {
      const d = delayBeforeAttempt(schedule, 3)!;
      expect(d).toBeGreaterThanOrEqual(255000);
      expect(d).toBeLessThanOrEqual(345000);
    }
    expect(delayBeforeAttempt(schedule, 4)).toBeNull();
  });

  it('defaults to the Svix-like schedule of 8 attempts', () => {
    expect(configFrom(`pbx: [{name: p, type: freeswitch, secret: s}]\nwebhooks: [{name: w, url: 'https://x.test/', events: ['*']}]`).webhooks[0].retry.schedule_ms)
      .toEqual([0, 5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6]);
    const schedule = configFrom(`pbx: [{name: p, type: freeswitch, secret: s}]\nwebhooks: [{name: w, url: 'https://x.test/', events: ['*']}]`).webhooks[0].retry.schedule_ms;
    expect(delayBeforeAttempt(schedule, 8, () => 0.5)).toBe(36e6);
    expect(delayBeforeAttempt(schedule, 9)).toBeNull();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 10:00:30 GMT', now)).toBe(30000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('99999999', now)).toBe(24 * 3600e3);
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, lets one probe per growing interval, closes on success', () => {
    const b = new CircuitBreaker({ failureThreshold: 3, probeMinMs: 1000, probeMaxMs: 3000 });
    let t = 0;
    for (let i = 0; i < 2; i++) b.failure(t, b.tryPass(t)!);
    expect(b.state).toBe('closed');
    b.success(); // a success resets the count
    for (let i = 0; i < 3; i++) b.failure(t, b.tryPass(t)!);
    expect(b.state).toBe('open');
    expect(b.tryPass(t + 999)).toBeNull();
    t = 1000;
    expect(b.tryPass(t)).toBe('probe');
    expect(b.tryPass(t)).toBeNull(); // only one probe at a time
    b.failure(t, 'probe');
    expect(b.nextProbeAt).toBe(3000); // interval doubled
    t = 3000;
    b.failure(t, b.tryPass(t)!);
    expect(b.nextProbeAt).toBe(6000); // capped at probeMaxMs
    expect(b.tryPass(6000)).toBe('probe');
    b.success();
    expect(b.state).toBe('closed');
    expect(b.tryPass(6000)).toBe('pass');
  });
});
