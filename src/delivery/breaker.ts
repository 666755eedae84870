/**
 * Circuit breaker, one per webhook. After `failureThreshold`
 * consecutive failures (no answer, timeout, 5xx, 429) it opens: instead of every queued
 * delivery hammering a dead receiver, one probe is let through per interval (growing from
 * `probeMinMs` to `probeMaxMs`). A successful probe closes it. Pure state: the caller
 * passes the clock in and decides how to wait.
 */

export interface BreakerOptions {
  /** consecutive failures that open the breaker (default 5) */
  failureThreshold?: number;
  /** first probe interval once open (default 5 s) */
  probeMinMs?: number;
  /** the interval doubles per failed probe up to this (default 60 s) */
  probeMaxMs?: number;
}

export type BreakerState = 'closed' | 'open';
/** what tryPass granted: a normal request (breaker closed) or the single probe */
export type Pass = 'pass' | 'probe';

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly probeMinMs: number;
  readonly probeMaxMs: number;
  private failures = 0;
  private openedState = false;
  private probing = false;
  private interval: number;
  /** when open: the earliest time the next probe may go */
  private nextProbe = 0;

  constructor(opts: BreakerOptions = {}) {
    this.failureThreshold = Math.max(1, opts.failureThreshold ?? 5);
    this.probeMinMs = opts.probeMinMs ?? 5_000;
    this.probeMaxMs = Math.max(this.probeMinMs, opts.probeMaxMs ?? 60_000);
    this.interval = this.probeMinMs;
  }

  get state(): BreakerState {
    return this.openedState ? 'open' : 'closed';
  }

  /** when open and no probe in flight: the time the next probe may go; otherwise null */
  get nextProbeAt(): number | null {
    return this.openedState && !this.probing ? this.nextProbe : null;
  }

  /** true when a request would be refused at `now` (does not take the probe) */
  blocks(now: number): boolean {
    return this.openedState && (this.probing || now < this.nextProbe);
  }

  /**
   * May a request go now? Closed: yes. Open: only the single probe, once its time has
   * come; the caller must then report its outcome with success()/failure().
   */
  tryPass(now: number): Pass | null {
    if (!this.openedState) return 'pass';
    if (this.probing || now < this.nextProbe) return null;
    this.probing = true;
    return 'probe';
  }

  /** a request got a healthy answer: closes the breaker */
  success(): void {
    this.failures = 0;
    this.openedState = false;
    this.probing = false;
    this.interval = this.probeMinMs;
  }

  /** a request failed (transport error, timeout, 5xx, 429); `pass` is what tryPass gave it */
  failure(now: number, pass: Pass): void {
    this.failures++;
    if (this.openedState) {
      if (pass === 'probe') {
        // failed probe: wait longer before the next one
        this.probing = false;
        this.interval = Math.min(this.interval * 2, this.probeMaxMs);
        this.nextProbe = now + this.interval;
      }
      return;
    }
    if (this.failures >= this.failureThreshold) {
      this.openedState = true;
      this.interval = this.probeMinMs;
      this.nextProbe = now + this.interval;
    }
  }

  /** a passed request ended without an outcome (aborted at shutdown): free the probe slot */
  release(pass: Pass): void {
    if (pass === 'probe') this.probing = false;
  }
}
