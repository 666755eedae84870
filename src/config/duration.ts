/**
 * Durations as operators write them in the config file: `250ms`, `5s`, `5m`, `2h`, `7d`,
 * or a bare number of seconds. Everything inside callhook uses milliseconds.
 */

/** The accepted spellings of a duration string (also used in the JSON Schema). */
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds, or null when `value` is not a duration. Numbers are seconds. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  }
  if (typeof value !== 'string') return null;
  const m = DURATION_PATTERN.exec(value.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]]);
}

/** Milliseconds back to the shortest exact config spelling, e.g. 300000 -> "5m" (for logs). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
