/**
 * The periodic summary log line: once a minute (by default) at info, what happened since
 * the last one — calls ended, webhooks delivered / failed / dead — and where things stand:
 * active calls, outbox depth and the age of its oldest delivery, PBX connections. An
 * operator tailing the journal sees the daemon is alive and healthy without a scrape.
 */
import type { Logger } from 'pino';

/** Cumulative counters and current levels, read from the daemon each time. */
export interface SummarySample {
  /** calls that ended (call.reporting events), since start */
  callsEnded: number;
  activeCalls: number;
  activeLegs: number;
  /** attempts that delivered / failed, deliveries that went dead, since start */
  delivered: number;
  failed: number;
  dead: number;
  outboxPending: number;
  oldestPendingAgeMs: number;
  /** PBX name -> connected */
  pbx: Record<string, boolean>;
}

export interface SummaryLine {
  interval_s: number;
  calls_ended: number;
  active_calls: number;
  active_legs: number;
  deliveries_ok: number;
  deliveries_failed: number;
  deliveries_dead: number;
  outbox_pending: number;
  oldest_pending_age_s: number;
  pbx_connected: Record<string, boolean>;
}

export const SUMMARY_MESSAGE = 'summary';

export class SummaryReporter {
  private timer: NodeJS.Timeout | null = null;
  private last: SummarySample | null = null;
  private lastAt = Date.now();

  constructor(
    private readonly logger: Logger,
    private readonly sample: () => SummarySample,
    private readonly intervalMs = 60_000,
  ) {}

  start(): void {
    if (this.timer) return;
    this.last = this.sample();
    this.lastAt = Date.now();
    this.timer = setInterval(() => this.report(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Log one summary line covering the time since the previous one; returns it. */
  report(message = SUMMARY_MESSAGE): SummaryLine | null {
    let now: SummarySample;
    try {
      now = this.sample();
    } catch (err) {
      this.logger.warn({ err }, 'summary unavailable');
      return null;
    }
    const prev = this.last ?? { callsEnded: 0, delivered: 0, failed: 0, dead: 0 };
    const at = Date.now();
    const line: SummaryLine = {
      interval_s: Math.round((at - this.lastAt) / 1000),
      calls_ended: now.callsEnded - prev.callsEnded,
      active_calls: now.activeCalls,
      active_legs: now.activeLegs,
      deliveries_ok: now.delivered - prev.delivered,
      deliveries_failed: now.failed - prev.failed,
      deliveries_dead: now.dead - prev.dead,
      outbox_pending: now.outboxPending,
      oldest_pending_age_s: Math.round(now.oldestPendingAgeMs / 1000),
      pbx_connected: now.pbx,
    };
    this.last = now;
    this.lastAt = at;
    this.logger.info(line, message);
    return line;
  }
}
