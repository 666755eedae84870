/**
 * Prometheus metrics for one daemon, in its own prom-client Registry (never the global
 * one, so two daemons in one process — tests, the demo — do not mix their numbers).
 *
 * Two kinds of values:
 * - counted as they happen: call events by name (`countEvent`), webhook attempts and their
 *   latency (`observeAttempt`), config reloads (`countReload`);
 * - read at scrape time from the daemon's parts (`MetricsSource`): PBX connection state,
 *   reconnects, raw PBX events and parse errors, active calls and legs, outbox depth and
 *   age, dead letters. Monotonic sources become counters by adding their growth since the
 *   last scrape, so a PBX connection replaced by a reload does not make a counter go down.
 */
import client from 'prom-client';
import type { CallEvent } from '../calls/events.js';
import type { DispatcherStats } from '../delivery/dispatcher.js';
import type { AttemptResult } from '../delivery/types.js';
import type { ConnectionStats } from '../pbx/types.js';

export interface PbxSample {
  name: string;
  type: string;
  /** the connection object itself: its counters restart when it is replaced */
  handle: object;
  stats: ConnectionStats;
}

/** What the metrics read from the running daemon at scrape time. */
export interface MetricsSource {
  pbx(): PbxSample[];
  activeCalls(): number;
  activeLegs(): number;
  dispatcher(): DispatcherStats;
}

/** Histogram buckets for webhook latency, in seconds: 5 ms .. 30 s. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class DaemonMetrics {
  readonly registry = new client.Registry();
  private readonly events: client.Counter<'pbx' | 'event' | 'context'>;
  private readonly attempts: client.Counter<'webhook' | 'outcome'>;
  private readonly latency: client.Histogram<'webhook' | 'outcome'>;
  private readonly reloads: client.Counter<'result'>;
  private readonly renderErrors: client.Counter<'webhook'>;
  /** last seen value of each monotonic source, per connection object and metric */
  private readonly seen = new WeakMap<object, Record<string, number>>();
  private readonly seenDead = new Map<string, number>();

  constructor(private readonly source: MetricsSource, version: string) {
    const registers = [this.registry];
    // Node's own metrics under their standard names (process_*, nodejs_*), as dashboards expect them
    client.collectDefaultMetrics({ register: this.registry });
    // except prom-client's three gauges named like counters (promtool: non-counter metrics
    // should not have "_total" suffix); each is the sum of its labelled twin, nodejs_active_handles{type} etc.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);

    new client.Gauge({
      name: 'callhook_build_info',
      help: 'callhook version (always 1)',
      labelNames: ['version'],
      registers,
    }).set({ version }, 1);

    // ---- PBX connections -------------------------------------------------------------
    const connected: client.Gauge<'pbx' | 'type'> = new client.Gauge({
      name: 'callhook_pbx_connected',
      help: '1 when the PBX connection is up and logged in, 0 otherwise',
      labelNames: ['pbx', 'type'],
      registers,
      collect: () => {
        connected.reset();
        for (const p of this.source.pbx()) connected.set({ pbx: p.name, type: p.type }, p.stats.connected ? 1 : 0);
      },
    });
    const monotonic = (name: string, help: string, pick: (s: ConnectionStats) => number) => {
      const c: client.Counter<'pbx'> = new client.Counter({
        name,
        help,
        labelNames: ['pbx'],
        registers,
        collect: () => {
          for (const p of this.source.pbx()) {
            const seen = this.seen.get(p.handle) ?? {};
            this.seen.set(p.handle, seen);
            const now = pick(p.stats);
            const grew = now - (seen[name] ?? 0);
            seen[name] = now;
            c.inc({ pbx: p.name }, Math.max(0, grew));
          }
        },
      });
    };
    monotonic('callhook_pbx_reconnects_total', 'PBX reconnections after the first successful login', (s) => s.reconnects);
    monotonic('callhook_pbx_events_total', 'raw PBX events received (AMI / ESL)', (s) => s.events);
    monotonic('callhook_pbx_parse_errors_total', 'malformed PBX frames or events that were logged and skipped', (s) => s.parseErrors);

    // ---- calls -----------------------------------------------------------------------
    this.events = new client.Counter({
      name: 'callhook_events_total',
      help: 'call events produced by the call tracker, by event name',
      labelNames: ['pbx', 'event', 'context'],
      registers,
    });
    const calls: client.Gauge = new client.Gauge({
      name: 'callhook_active_calls',
      help: 'calls in progress',
      registers,
      collect: () => calls.set(this.source.activeCalls()),
    });
    const legs: client.Gauge = new client.Gauge({
      name: 'callhook_active_legs',
      help: 'legs (channels) in progress',
      registers,
      collect: () => legs.set(this.source.activeLegs()),
    });

    // ---- deliveries ------------------------------------------------------------------
    this.attempts = new client.Counter({
      name: 'callhook_webhook_attempts_total',
      help: 'webhook delivery attempts by webhook and outcome (delivered: 2xx; failed: anything else, retried or dead)',
      labelNames: ['webhook', 'outcome'],
      registers,
    });
    this.latency = new client.Histogram({
      name: 'callhook_webhook_duration_seconds',
      help: 'webhook request duration, from sending to the response (or the error)',
      labelNames: ['webhook', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const dead: client.Counter<'webhook'> = new client.Counter({
      name: 'callhook_webhook_dead_letters_total',
      help: 'deliveries that used up their retry schedule (kept in the store; `callhook replay --dead` re-sends them)',
      labelNames: ['webhook'],
      registers,
      collect: () => {
        for (const [name, w] of Object.entries(this.source.dispatcher().webhooks)) {
          const grew = w.dead - (this.seenDead.get(name) ?? 0);
          this.seenDead.set(name, w.dead);
          dead.inc({ webhook: name }, Math.max(0, grew));
        }
      },
    });
    const pending: client.Gauge<'webhook'> = new client.Gauge({
      name: 'callhook_outbox_pending',
      help: 'deliveries in the durable outbox still to send (pending or waiting for a retry)',
      labelNames: ['webhook'],
      registers,
      collect: () => {
        pending.reset();
        for (const [name, w] of Object.entries(this.source.dispatcher().webhooks)) pending.set({ webhook: name }, w.pending);
      },
    });
    const oldest: client.Gauge = new client.Gauge({
      name: 'callhook_outbox_oldest_pending_age_seconds',
      help: 'age of the oldest delivery still to send (0 when the outbox is empty)',
      registers,
      collect: () => oldest.set(this.source.dispatcher().oldestPendingAgeMs / 1000),
    });
    const inFlight: client.Gauge = new client.Gauge({
      name: 'callhook_webhook_in_flight',
      help: 'webhook requests in flight',
      registers,
      collect: () => inFlight.set(this.source.dispatcher().inFlight),
    });
    const gone: client.Gauge<'webhook'> = new client.Gauge({
      name: 'callhook_webhook_disabled',
      help: '1 when a webhook answered 410 Gone and is disabled until the next reload',
      labelNames: ['webhook'],
      registers,
      collect: () => {
        gone.reset();
        for (const [name, w] of Object.entries(this.source.dispatcher().webhooks)) gone.set({ webhook: name }, w.gone ? 1 : 0);
      },
    });
    const breaker: client.Gauge<'webhook'> = new client.Gauge({
      name: 'callhook_webhook_breaker_open',
      help: "1 while a webhook's circuit breaker is open (one probe per interval instead of sending)",
      labelNames: ['webhook'],
      registers,
      collect: () => {
        breaker.reset();
        for (const [name, w] of Object.entries(this.source.dispatcher().webhooks)) breaker.set({ webhook: name }, w.breaker === 'open' ? 1 : 0);
      },
    });
    const amqpUp: client.Gauge<'sink'> = new client.Gauge({
      name: 'callhook_amqp_connected',
      help: '1 while an amqp sink is connected to its broker',
      labelNames: ['sink'],
      registers,
      collect: () => {
        amqpUp.reset();
        for (const st of this.source.dispatcher().sinks) amqpUp.set({ sink: st.name }, st.connected ? 1 : 0);
      },
    });
    this.renderErrors = new client.Counter({
      name: 'callhook_render_errors_total',
      help: 'events that could not be rendered for a webhook (not sent to it; logged)',
      labelNames: ['webhook'],
      registers,
    });

    this.reloads = new client.Counter({
      name: 'callhook_config_reloads_total',
      help: 'configuration reloads (SIGHUP) by result: ok, or invalid (the running config was kept)',
      labelNames: ['result'],
      registers,
    });
    this.reloads.inc({ result: 'ok' }, 0);
    this.reloads.inc({ result: 'invalid' }, 0);
  }

  countEvent(ev: CallEvent): void {
    this.events.inc({ pbx: ev.pbx?.name ?? '', event: ev.event_name, context: ev.context ?? '' });
  }

  observeAttempt(r: AttemptResult): void {
    const outcome = r.ok ? 'delivered' : 'failed';
    this.attempts.inc({ webhook: r.webhook, outcome });
    this.latency.observe({ webhook: r.webhook, outcome }, r.ms / 1000);
  }

  countRenderError(webhook: string): void {
    this.renderErrors.inc({ webhook });
  }

  countReload(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'ok' : 'invalid' });
  }

  /** Prometheus text exposition */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
