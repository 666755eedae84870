/**
 * The dispatcher: sends what the outbox holds, over HTTP, until each delivery is delivered
 * (2xx) or dead (its retry schedule ran out). At-least-once, in order per call:
 *
 * - A *lane* is one (webhook, callKey). A lane sends its oldest open delivery, and only
 *   when that one is delivered or dead does the next one go. Lanes are independent, so a
 *   slow call or a slow webhook holds back nobody else (per-webhook and global concurrency
 *   limits bound the total; see DispatcherOptions).
 * - The store is the truth; a lane keeps its next rows in memory (up to LANE_ROWS each,
 *   MEMORY_ROWS over all lanes: beyond that they wait in the store and are read back in
 *   order), and attempt outcomes are written together (Outbox.recordAttempt: one
 *   transaction per ATTEMPT_WRITE_MS). Rows re-queued by another process (`callhook replay`) are noticed
 *   through SQLite's data_version, polled every second, and the lanes read back.
 * - Each delivery goes to the URL stored with it (rendered from the webhook's URL template).
 * - Each endpoint origin has an undici Pool (redirects are never followed: a 3xx is a
 *   failure); each webhook has a circuit breaker, so one failing webhook never holds back
 *   another on the same host. Deliveries waiting for an open breaker stay pending without
 *   using up retry attempts.
 * - 410 Gone disables the webhook until the next updateWebhooks() (config reload); its
 *   rows stay pending in the store.
 */
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { WebhookConfig } from '../config/types.js';
import { HttpSender, type RequestOutcome } from './http-sender.js';
import { AmqpSender, type SinkState } from './amqp-sender.js';
import { CircuitBreaker, type BreakerOptions, type Pass } from './breaker.js';
import type { DeliveryRow, Outbox } from './outbox.js';
import { decide } from './retry.js';
import type { AttemptResult, DeliverySink, RenderedDelivery } from './types.js';
import { VERSION } from '../version.js';

export interface DispatcherOptions {
  outbox: Outbox;
  webhooks: WebhookConfig[];
  logger: Logger;
  /** requests in flight over all webhooks (default 64) */
  concurrency?: number;
  /** requests in flight per webhook (default 16), so one slow webhook cannot take every slot */
  perWebhookConcurrency?: number;
  onAttempt?: (r: AttemptResult) => void;
  now?: () => number;
  random?: () => number;
  breaker?: BreakerOptions;
  /** how often the store is checked for rows re-queued by another process (default 1000 ms) */
  pollIntervalMs?: number;
  /** how often delivered rows past retention are pruned (default 10 min) */
  pruneIntervalMs?: number;
  /** `user-agent` header (default callhook/<package version>) */
  userAgent?: string;
}

export interface WebhookStats {
  delivered: number;
  failed: number;
  dead: number;
  pending: number;
  /** disabled by a 410 Gone until the next config reload */
  gone: boolean;
  /** its circuit breaker: open = one probe per interval instead of sending */
  breaker: 'closed' | 'open';
}

export interface DispatcherStats {
  /** attempts that delivered, since start */
  delivered: number;
  /** attempts that failed (and will be retried or went dead), since start */
  failed: number;
  /** deliveries that went dead, since start */
  dead: number;
  /** deliveries in the store still to send (pending or failed) */
  pending: number;
  oldestPendingAgeMs: number;
  inFlight: number;
  webhooks: Record<string, WebhookStats>;
  /** amqp sinks' broker connections */
  sinks: SinkState[];
}

interface Lane {
  key: string;
  webhook: string;
  callKey: string;
  /** its oldest open deliveries, in order; the first is the one to send */
  rows: DeliveryRow[];
  /** more of its open rows are in the store only */
  more: boolean;
  /** the store changed under it (another process): read it back after the attempt in flight */
  stale: boolean;
  /** its attempt is queued or in flight */
  busy: boolean;
  timer: NodeJS.Timeout | null;
}

const MAX_TIMER_MS = 2_147_483_647;
/** rows a lane keeps in memory */
const LANE_ROWS = 64;
/** rows all lanes keep in memory (the rest are read from the store when their turn comes) */
const MEMORY_ROWS = 20_000;

export class Dispatcher implements DeliverySink {
  private readonly outbox: Outbox;
  private readonly logger: Logger;
  /** the logger for the line per delivery: built of fixed, secret-free fields, it skips the redaction pass */
  private readonly deliveryLog: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onAttempt?: (r: AttemptResult) => void;
  private readonly breakerOptions: BreakerOptions;
  private readonly perWebhookConcurrency: number;
  private readonly pollIntervalMs: number;
  private readonly pruneIntervalMs: number;

  private webhooks = new Map<string, WebhookConfig>();
  /** webhooks that answered 410 Gone: disabled until updateWebhooks() */
  private readonly gone = new Set<string>();
  private readonly lanes = new Map<string, Lane>();
  private readonly global: PQueue;
  private readonly queues = new Map<string, PQueue>();
  private readonly http: HttpSender;
  private readonly amqp: AmqpSender;
  private readonly breakers = new Map<string, CircuitBreaker>();
  /** webhooks a receiver asked to wait (429 Retry-After), until when */
  private readonly pausedUntil = new Map<string, number>();
  /** lanes waiting for a webhook's open breaker */
  private readonly blocked = new Map<string, Set<Lane>>();
  private readonly breakerTimers = new Map<string, NodeJS.Timeout>();
  /** attempts in flight: each resolves when its outcome is settled */
  private readonly inflight = new Map<number, Promise<void>>();
  /** rows held in lanes' memory */
  private memoryRows = 0;
  private readonly counters = { delivered: 0, failed: 0, dead: 0 };
  private readonly perWebhook = new Map<string, { delivered: number; failed: number; dead: number }>();

  private started = false;
  private closing = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private lastDataVersion = 0;
  private lastPrune = 0;

  constructor(opts: DispatcherOptions) {
    this.outbox = opts.outbox;
    this.logger = opts.logger;
    this.deliveryLog = opts.logger.child({}, { redact: [] });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.onAttempt = opts.onAttempt;
    this.breakerOptions = opts.breaker ?? {};
    this.perWebhookConcurrency = opts.perWebhookConcurrency ?? 16;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.pruneIntervalMs = opts.pruneIntervalMs ?? 10 * 60_000;
    this.http = new HttpSender(opts.userAgent ?? `callhook/${VERSION}`, this.now);
    this.amqp = new AmqpSender(this.logger, this.now);
    this.global = new PQueue({ concurrency: opts.concurrency ?? 64 });
    this.setWebhooks(opts.webhooks);
    this.outbox.onCommit((rows) => this.onCommitted(rows));
  }

  /** resumes everything the store holds as pending, oldest first, and starts watching it */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.pruneNow();
    this.lastDataVersion = this.outbox.dataVersion();
    this.reconcile();
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** durable first: rows reach the lanes only after the outbox committed them */
  enqueue(deliveries: RenderedDelivery[]): void {
    if (this.closing) {
      this.logger.warn({ count: deliveries.length }, 'deliveries enqueued while closing: stored for the next start');
    }
    this.outbox.enqueue(deliveries);
  }

  /** applies a reloaded webhook list; clears 410 disables; nothing queued is lost */
  updateWebhooks(webhooks: WebhookConfig[]): void {
    this.setWebhooks(webhooks);
    this.gone.clear();
    for (const lane of [...this.lanes.values()]) this.pump(lane);
    // rows of webhooks that were unknown until now may be in the store without a lane
    if (this.started && !this.closing) this.reconcile();
  }

  /**
   * Stops intake, lets requests in flight finish for up to graceMs, aborts the rest
   * (their deliveries stay pending, sent again on the next start) and closes the pools.
   * The outbox stays open: the owner closes it afterwards.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const lane of this.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    for (const t of this.breakerTimers.values()) clearTimeout(t);
    this.breakerTimers.clear();
    for (const q of this.queues.values()) q.clear();
    this.global.clear();
    this.flushOutbox();
    const pending = [...this.inflight.values()];
    if (pending.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.allSettled(pending), grace]);
      clearTimeout(timer);
      const left = [...this.inflight.values()];
      if (left.length > 0) {
        this.logger.warn({ aborted: left.length }, 'aborting webhook requests still in flight; they stay pending');
        await this.http.abortAll();
        await Promise.allSettled(left);
      }
    }
    // the outcomes of the last attempts, on disk before the owner closes the store
    this.flushOutbox();
    await Promise.all([this.http.close(), this.amqp.close()]);
  }

  /** the amqp sinks' broker connections */
  sinkStates(): SinkState[] {
    return this.amqp.states();
  }

  private flushOutbox(): void {
    try {
      this.outbox.flush();
    } catch (err) {
      this.logger.error({ err }, 'outbox flush at close failed');
    }
  }

  stats(): DispatcherStats {
    const webhooks: Record<string, WebhookStats> = {};
    const names = new Set([...this.webhooks.keys(), ...this.perWebhook.keys()]);
    let pending = 0;
    let oldest: number | null = null;
    let byWebhook: Record<string, number> = {};
    try {
      const p = this.outbox.pendingStats();
      pending = p.pending;
      oldest = p.oldestCreatedAt;
      byWebhook = p.byWebhook;
      for (const n of Object.keys(byWebhook)) names.add(n);
    } catch {
      /* outbox closed: report counters only */
    }
    for (const name of names) {
      const c = this.perWebhook.get(name) ?? { delivered: 0, failed: 0, dead: 0 };
      webhooks[name] = { ...c, pending: byWebhook[name] ?? 0, gone: this.gone.has(name), breaker: this.breakers.get(name)?.state ?? 'closed' };
    }
    return {
      ...this.counters,
      pending,
      oldestPendingAgeMs: oldest === null ? 0 : Math.max(0, this.now() - oldest),
      inFlight: this.inflight.size,
      webhooks,
      sinks: this.amqp.states(),
    };
  }

  // ---- lanes ---------------------------------------------------------------------------

  private setWebhooks(list: WebhookConfig[]): void {
    this.webhooks = new Map(list.map((w) => [w.name, w]));
    this.amqp.configure(list);
    for (const w of list) {
      if (!this.queues.has(w.name)) this.queues.set(w.name, new PQueue({ concurrency: this.perWebhookConcurrency }));
    }
  }

  /** the webhook's config when deliveries to it may be sent now */
  private activeWebhook(name: string): WebhookConfig | undefined {
    const wh = this.webhooks.get(name);
    if (!wh || !wh.enabled || this.gone.has(name)) return undefined;
    return wh;
  }

  private laneFor(webhook: string, callKey: string): Lane {
    const key = `${webhook}\u0000${callKey}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { key, webhook, callKey, rows: [], more: false, stale: false, busy: false, timer: null };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private onCommitted(rows: DeliveryRow[]): void {
    if (!this.started || this.closing) return;
    const touched = new Set<Lane>();
    for (const row of rows) {
      const lane = this.laneFor(row.webhook, row.call_key);
      // rows come in id order: once one waits in the store, the later ones do too
      if (lane.more || lane.stale || lane.rows.length >= LANE_ROWS || this.memoryRows >= MEMORY_ROWS) lane.more = true;
      else {
        lane.rows.push(row);
        this.memoryRows++;
      }
      touched.add(lane);
    }
    for (const lane of touched) this.pump(lane);
  }

  /** loads every open lane from the store (start, and after another process wrote to it) */
  private reconcile(): void {
    for (const open of this.outbox.openLanes()) {
      const lane = this.laneFor(open.webhook, open.call_key);
      if (lane.busy) {
        lane.stale = true;
        continue;
      }
      this.readBack(lane);
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      this.pump(lane);
    }
  }

  /** the lane's next rows, from the store */
  private readBack(lane: Lane): void {
    this.memoryRows -= lane.rows.length;
    lane.rows = this.outbox.laneRows(lane.webhook, lane.callKey, LANE_ROWS);
    this.memoryRows += lane.rows.length;
    lane.more = lane.rows.length === LANE_ROWS;
    lane.stale = false;
  }

  /** the lane's first row is done (delivered or dead): on to the next */
  private advance(lane: Lane): void {
    if (lane.rows.shift()) this.memoryRows--;
    if (lane.stale || (lane.rows.length === 0 && lane.more)) this.readBack(lane);
  }

  private poll(): void {
    if (this.closing) return;
    try {
      const v = this.outbox.dataVersion();
      if (v !== this.lastDataVersion) {
        this.lastDataVersion = v;
        this.reconcile();
      }
      if (this.now() - this.lastPrune >= this.pruneIntervalMs) this.pruneNow();
    } catch (err) {
      this.logger.error({ err }, 'outbox poll failed');
    }
  }

  private pruneNow(): void {
    this.lastPrune = this.now();
    const removed = this.outbox.prune(this.lastPrune);
    if (removed > 0) this.logger.info({ removed }, 'pruned delivered deliveries past retention');
  }

  /** sends the lane's head if it is due and nothing blocks it; otherwise arranges to come back */
  private pump(lane: Lane): void {
    if (!this.started || this.closing || lane.busy) return;
    if (lane.rows.length === 0 && lane.more) this.readBack(lane);
    const row = lane.rows[0];
    if (!row) {
      if (lane.timer) clearTimeout(lane.timer);
      this.lanes.delete(lane.key);
      return;
    }
    const wh = this.activeWebhook(lane.webhook);
    if (!wh) return; // parked until updateWebhooks(); the row stays pending in the store
    const now = this.now();
    const schedule = wh.retry.schedule_ms;
    const due = row.next_attempt_at + (row.attempts === row.retry_from ? schedule[0] : 0);
    if (due > now) {
      this.arm(lane, due - now);
      return;
    }
    if (wh.sink === 'http') {
      try {
        new URL(row.url);
      } catch (err) {
        this.giveUpInvalid(lane, row, err);
        return;
      }
    }
    const paused = this.pausedUntil.get(wh.name) ?? 0;
    if (paused > now) {
      this.arm(lane, paused - now);
      return;
    }
    if (this.breakerFor(wh.name).blocks(now)) {
      this.block(lane, wh.name);
      return;
    }
    lane.busy = true;
    const queue = this.queues.get(wh.name)!;
    queue
      .add(() => this.global.add(() => this.attempt(lane, row)))
      .catch((err: unknown) => {
        lane.busy = false;
        this.logger.error({ err, webhook: lane.webhook }, 'delivery task failed');
      });
  }

  /** a row whose URL cannot be parsed can never be sent: dead at once, kept for inspection */
  private giveUpInvalid(lane: Lane, row: DeliveryRow, err: unknown): void {
    const error = `invalid URL: ${(err as Error).message}`;
    this.logger.error({ event: row.event_name, call_key: row.call_key, webhook: row.webhook, reason: error }, 'webhook delivery dead');
    this.outbox.recordAttempt(
      row.id,
      { delivery_id: row.id, attempt: row.attempts + 1, at: this.now(), status: null, ms: 0, error, response: null },
      { status: 'dead', nextAttemptAt: this.now() },
    );
    this.counters.dead++;
    this.advance(lane);
    setImmediate(() => this.pump(lane));
  }

  private arm(lane: Lane, ms: number): void {
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = setTimeout(() => {
      lane.timer = null;
      this.pump(lane);
    }, Math.min(ms, MAX_TIMER_MS));
    lane.timer.unref();
  }

  private breakerFor(webhook: string): CircuitBreaker {
    let b = this.breakers.get(webhook);
    if (!b) {
      b = new CircuitBreaker(this.breakerOptions);
      this.breakers.set(webhook, b);
    }
    return b;
  }

  /** parks a lane until its webhook's breaker lets a probe through or closes */
  private block(lane: Lane, webhook: string): void {
    let set = this.blocked.get(webhook);
    if (!set) this.blocked.set(webhook, (set = new Set()));
    set.add(lane);
    this.armBreaker(webhook);
  }

  private armBreaker(webhook: string): void {
    const at = this.breakerFor(webhook).nextProbeAt;
    if (at === null || this.breakerTimers.has(webhook) || this.closing) return;
    const t = setTimeout(() => {
      this.breakerTimers.delete(webhook);
      this.wake(webhook);
    }, Math.max(0, at - this.now()));
    t.unref();
    this.breakerTimers.set(webhook, t);
  }

  private wake(webhook: string): void {
    const set = this.blocked.get(webhook);
    if (!set) return;
    this.blocked.delete(webhook);
    for (const lane of set) this.pump(lane);
  }

  // ---- one attempt ---------------------------------------------------------------------

  private async attempt(lane: Lane, row: DeliveryRow): Promise<void> {
    const wh = this.closing ? undefined : this.activeWebhook(lane.webhook);
    if (!wh) {
      lane.busy = false; // parked (closing, removed, disabled or gone); stays pending
      return;
    }
    const breaker = this.breakerFor(wh.name);
    const pass = breaker.tryPass(this.now());
    if (!pass) {
      lane.busy = false;
      this.block(lane, wh.name);
      return;
    }

    let resolveDone!: () => void;
    this.inflight.set(row.id, new Promise<void>((r) => (resolveDone = r)));
    try {
      const res = wh.sink === 'amqp' ? await this.amqp.send(row, wh) : await this.http.send(row, wh, new URL(row.url));
      if (res.aborted === 'shutdown') {
        breaker.release(pass);
        return; // stays pending, sent again on the next start
      }
      this.settle(lane, row, wh, breaker, pass, res);
    } catch (err) {
      // e.g. the store could not be written: try this delivery again in a second (at-least-once)
      this.logger.error({ err, webhook: wh.name, call_key: row.call_key }, 'delivery bookkeeping failed');
      if (lane.rows[0] === row) lane.rows[0] = { ...row, next_attempt_at: this.now() + 1000 };
    } finally {
      this.inflight.delete(row.id);
      lane.busy = false;
      resolveDone();
      if (!this.closing) this.pump(lane);
    }
  }

  /** records the outcome, updates breaker and counters, logs, and moves the lane on */
  private settle(
    lane: Lane,
    row: DeliveryRow,
    wh: WebhookConfig,
    breaker: CircuitBreaker,
    pass: Pass,
    res: RequestOutcome,
  ): void {
    const attempt = row.attempts + 1;
    const now = this.now();
    const { ok, gone: isGone, status, nextAttemptAt, error, paced } = decide(res.status, res.error, res.retryAfter, {
      schedule: wh.retry.schedule_ms,
      attemptInSchedule: attempt - row.retry_from + 1,
      now,
      random: this.random,
    });

    // breaker first (pure state), so a failing store write cannot leave a probe slot taken.
    // Only an unhealthy endpoint counts against it (no answer, timeout, 5xx, 429 without
    // Retry-After). A 429 with Retry-After is pacing: the whole webhook waits that long.
    const unhealthy = !paced && (res.status === null || res.status >= 500 || res.status === 429);
    const wasOpen = breaker.state === 'open';
    if (paced) {
      breaker.release(pass);
      this.pausedUntil.set(wh.name, Math.max(this.pausedUntil.get(wh.name) ?? 0, nextAttemptAt));
    } else if (unhealthy) breaker.failure(now, pass);
    else breaker.success();
    if (breaker.state === 'open') {
      if (!wasOpen) this.logger.warn({ webhook: wh.name }, 'circuit breaker open: probing instead of sending');
      this.armBreaker(wh.name);
    } else {
      if (wasOpen) this.logger.info({ webhook: wh.name }, 'circuit breaker closed');
      this.wake(wh.name);
    }

    this.outbox.recordAttempt(
      row.id,
      { delivery_id: row.id, attempt, at: res.at, status: res.status, ms: res.ms, error, response: res.snippet },
      { status, nextAttemptAt, paced },
    );

    // counters
    const c = this.perWebhook.get(wh.name) ?? { delivered: 0, failed: 0, dead: 0 };
    this.perWebhook.set(wh.name, c);
    if (ok) {
      this.counters.delivered++;
      c.delivered++;
    } else {
      this.counters.failed++;
      c.failed++;
      if (status === 'dead') {
        this.counters.dead++;
        c.dead++;
      }
    }

    // log: one line per attempt; never headers or secrets
    const line = {
      event: row.event_name,
      event_id: row.event_id,
      call_key: row.call_key,
      webhook: wh.name,
      attempt,
      status: res.status,
      ms: res.ms,
    };
    if (ok) {
      // (the child keeps the level it was made with: the running config's level decides)
      if (this.logger.isLevelEnabled('info')) this.deliveryLog.info(line, 'webhook delivered');
    } else if (isGone) {
      this.gone.add(wh.name);
      this.logger.error(
        { ...line, reason: error },
        `webhook "${wh.name}" answered 410 Gone: DISABLED until the configuration is reloaded; its deliveries stay pending`,
      );
    } else if (status === 'dead') {
      this.logger.error(
        { ...line, reason: error },
        'webhook delivery dead: retry schedule exhausted; kept in the store (callhook replay re-sends it)',
      );
    } else {
      this.logger.warn({ ...line, reason: error, retry_in_ms: nextAttemptAt - now }, 'webhook attempt failed');
    }

    if (this.onAttempt) {
      try {
        this.onAttempt({
          eventId: row.event_id,
          webhook: wh.name,
          eventName: row.event_name,
          callKey: row.call_key,
          attempt,
          status: res.status,
          ok,
          ms: res.ms,
          error: ok ? null : error,
          responseSnippet: res.snippet,
        });
      } catch (err) {
        this.logger.error({ err }, 'onAttempt callback failed');
      }
    }

    // move the lane on
    if (status === 'delivered' || status === 'dead') {
      this.advance(lane);
    } else {
      lane.rows[0] = {
        ...row,
        status,
        attempts: attempt,
        next_attempt_at: nextAttemptAt,
        last_status: res.status,
        last_error: error,
        last_ms: res.ms,
        last_response: res.snippet,
      };
    }
  }
}
