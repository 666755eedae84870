/**
 * The retry schedule: how long to wait before each attempt of a delivery, with jitter so
 * that a receiver coming back is not hit by every queued delivery at the same instant,
 * and the `Retry-After` a receiver may send with 429/503.
 */

/** jitter amplitude: a delay d becomes d * (1 ± JITTER) */
export const JITTER = 0.15;

/** a Retry-After longer than this is capped (a receiver asking for a week would park the call) */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/**
 * Delay before attempt number `attempt` (1-based) in `schedule` (the webhook's
 * `retry.schedule`, whose default is in config/schema.ts), jittered; null when the
 * schedule has no such attempt (the delivery is dead). `random` returns [0, 1).
 */
export function delayBeforeAttempt(
  schedule: readonly number[],
  attempt: number,
  random: () => number = Math.random,
): number | null {
  if (attempt < 1 || attempt > schedule.length) return null;
  const base = schedule[attempt - 1];
  if (base <= 0) return 0;
  return Math.max(0, Math.round(base * (1 + (random() * 2 - 1) * JITTER)));
}

/**
 * `Retry-After` as milliseconds from `nowMs`: delta-seconds or an HTTP date. Null when
 * absent or unparseable; capped at MAX_RETRY_AFTER_MS.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | null {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return null;
  let ms: number;
  if (/^\d+$/.test(v)) {
    ms = Number(v) * 1000;
  } else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return null;
    ms = Math.max(0, at - nowMs);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/** statuses whose Retry-After we honour */
export function honoursRetryAfter(status: number | null): boolean {
  return status === 429 || status === 503;
}
