/**
 * The retry schedule: how long to wait before each attempt of a delivery, with jitter so
 * that a receiver coming back is not hit by every queued delivery at the same instant,
 * and the `Retry-After` a receiver may send with 429/503.
 */
import type { DeliveryStatus } from './types.js';

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

export interface Decision {
  ok: boolean;
  /** 410 Gone: the webhook is disabled until a reload; the delivery stays pending */
  gone: boolean;
  /** `failed` = another attempt is scheduled at nextAttemptAt */
  status: DeliveryStatus;
  nextAttemptAt: number;
  /** what went wrong, as `callhook deliveries` shows it (null when delivered) */
  error: string | null;
  /**
   * 429 with Retry-After: the receiver paces this webhook. Not a fault: the next attempt is
   * at Retry-After, without using up a step of the schedule, and the breaker is not told.
   */
  paced: boolean;
}

/**
 * What an attempt's outcome means for its delivery: delivered (2xx); parked (410); or the
 * next attempt of the schedule (the later of its jittered delay and a 429/503 Retry-After);
 * or dead when the schedule has run out. 3xx is a failure: redirects are not followed.
 */
export function decide(
  httpStatus: number | null,
  requestError: string | null,
  retryAfterMs: number | null,
  at: { schedule: readonly number[]; attemptInSchedule: number; now: number; random: () => number },
): Decision {
  const ok = httpStatus !== null && httpStatus >= 200 && httpStatus < 300;
  if (ok) return { ok, gone: false, status: 'delivered', nextAttemptAt: at.now, error: null, paced: false };
  const redirect = httpStatus !== null && httpStatus >= 300 && httpStatus < 400;
  const error = requestError ?? (redirect ? `HTTP ${httpStatus} (redirects are not followed)` : `HTTP ${httpStatus}`);
  if (httpStatus === 410) return { ok, gone: true, status: 'failed', nextAttemptAt: at.now, error, paced: false };
  if (httpStatus === 429 && retryAfterMs !== null) return { ok, gone: false, status: 'failed', nextAttemptAt: at.now + retryAfterMs, error, paced: true };
  const delay = delayBeforeAttempt(at.schedule, at.attemptInSchedule, at.random);
  if (delay === null) return { ok, gone: false, status: 'dead', nextAttemptAt: at.now, error, paced: false };
  const wait = honoursRetryAfter(httpStatus) && retryAfterMs !== null ? Math.max(delay, retryAfterMs) : delay;
  return { ok, gone: false, status: 'failed', nextAttemptAt: at.now + wait, error, paced: false };
}
