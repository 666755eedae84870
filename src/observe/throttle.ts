/**
 * Log floods: one line per key per interval at most, the next one saying how many were held
 * back. A million malformed frames give a line every interval, not a million lines; the
 * metrics still count every one.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs: number, private readonly now: () => number = Date.now) {}

  /** null: hold this line back; else log it, with `suppressed` lines held back since the last */
  take(key = ''): { suppressed: number } | null {
    const now = this.now();
    const last = this.last.get(key);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      return null;
    }
    this.last.set(key, { at: now, suppressed: 0 });
    return { suppressed: last?.suppressed ?? 0 };
  }
}
