/**
 * Reconnect delay for PBX event-socket clients (AMI and ESL): exponential backoff with
 * "full jitter" (a uniformly random delay between 0 and the exponential ceiling), so that
 * many daemons reconnecting to one restarted PBX do not arrive in lockstep.
 *
 * attempt 0 is the first retry after a connection was lost: it waits at most initialMs
 * (1 s by default); the ceiling doubles per attempt up to maxMs (30 s by default).
 * Callers reset their attempt counter after a successful login.
 */

export interface BackoffOptions {
  /** ceiling of the first retry, ms (default 1000) */
  initialMs?: number;
  /** largest ceiling, ms (default 30000) */
  maxMs?: number;
  /** random source in [0, 1); tests pass a fixed one */
  random?: () => number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 1000;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;

/** The delay in ms before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = Math.max(0, opts.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
  const max = Math.max(initial, opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  const random = opts.random ?? Math.random;
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  // 2 ** 40 already exceeds any sane cap; avoid Infinity for huge attempt counts.
  const ceiling = Math.min(max, initial * 2 ** Math.min(n, 40));
  return Math.floor(random() * ceiling);
}
