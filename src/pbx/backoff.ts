/**
 * Reconnect delay for PBX event-socket clients (AMI and ESL). A PBX that restarts is back
 * within seconds, and callhook should be too; one that stays down must not be stormed:
 *
 * - the first FAST_RETRIES retries after a loss (about a minute at the default 1 s) wait
 *   between initialMs / 2 and initialMs, so callhook is back at most ~1 s after the PBX is
 *   reachable again (a retry against a down PBX is one refused TCP connect);
 * - after that, exponential backoff with "full jitter" (a uniformly random delay between 0
 *   and a ceiling that doubles per retry, up to maxMs), so many daemons reconnecting to one
 *   PBX do not arrive in lockstep.
 *
 * Callers reset their attempt counter after a successful login.
 */

export interface BackoffOptions {
  /** the fast retries' interval, and the first ceiling after them, ms (default 1000) */
  initialMs?: number;
  /** largest ceiling, ms (default 30000) */
  maxMs?: number;
  /** random source in [0, 1); tests pass a fixed one */
  random?: () => number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 1000;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
/** retries at about initialMs before backing off */
export const FAST_RETRIES = 60;

/** The delay in ms before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = Math.max(0, opts.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
  const max = Math.max(initial, opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  const random = opts.random ?? Math.random;
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  if (n < FAST_RETRIES) return Math.floor(initial / 2 + (random() * initial) / 2);
  // 2 ** 40 already exceeds any sane cap; avoid Infinity for huge attempt counts.
  const ceiling = Math.min(max, initial * 2 ** Math.min(n - FAST_RETRIES + 1, 40));
  return Math.floor(random() * ceiling);
}
