/**
 * The daemon: wires the pipeline (PBX connections -> pipeline -> outbox -> dispatcher),
 * and owns the lifecycle: start, reload on SIGHUP (keep the old config when the new one
 * is invalid), graceful stop on SIGTERM/SIGINT (stop intake, let in-flight requests finish
 * for a bounded time, leave the rest in the store). It also runs the observability
 * around them: the HTTP server (/healthz, /readyz, /metrics, /calls) on `http.listen`,
 * the Prometheus registry, and the once-a-minute summary log line.
 */
import type { Logger } from 'pino';
import type { CallEvent } from './calls/events.js';
import type { Config, PbxConfig } from './config/types.js';
import { ConfigError } from './config/load.js';
import { loadConfigFile as loadConfig } from './check.js';
import { Outbox } from './delivery/outbox.js';
import { Dispatcher } from './delivery/dispatcher.js';
import type { AttemptResult } from './delivery/types.js';
import { createConnection, type PbxConnection } from './pbx/index.js';
import { Pipeline } from './pipeline.js';
import { createLogger, summarizeConfig } from './observe/logger.js';
import { LogThrottle } from './observe/throttle.js';
import { DaemonMetrics } from './observe/metrics.js';
import { readiness, startObserveServer, type CallView, type ObservedDaemon, type ObserveServer, type Readiness } from './observe/http.js';
import { SummaryReporter, type SummaryLine } from './observe/summary.js';
import { SystemdNotifier } from './observe/sd-notify.js';
import { VERSION } from './version.js';
import { EXIT } from './exit.js';

export interface DaemonOptions {
  configPath: string;
  logger?: Logger;
  /** print-friendly hooks for `demo` and tests */
  onEvent?: (ev: CallEvent) => void;
  onAttempt?: (r: AttemptResult) => void;
  /** install SIGHUP/SIGTERM/SIGINT handlers (the `run` command does) */
  handleSignals?: boolean;
  /** how long SIGTERM waits for in-flight requests */
  drainMs?: number;
  /** pino-pretty output */
  pretty?: boolean;
  /** how often the summary line is logged (default 60 s) */
  summaryIntervalMs?: number;
}

export { EXIT } from './exit.js';

/** the tracker clock: orphan legs (orphan_timeout) and held call.initial events (ROUTING_WAIT_MS) */
const TICK_MS = 1_000;
const SUMMARY_MS = 60_000;

export class Daemon {
  readonly logger: Logger;
  config: Config;
  readonly outbox: Outbox;
  readonly dispatcher: Dispatcher;
  readonly pipeline: Pipeline;
  readonly connections = new Map<string, PbxConnection>();
  readonly startedAt = Date.now();
  readonly version = VERSION;
  readonly metrics: DaemonMetrics;
  private readonly summary: SummaryReporter;
  /** READY=1 / STATUS= / RELOADING=1 / STOPPING=1 to systemd (Type=notify) */
  private readonly notifier: SystemdNotifier;
  private http: ObserveServer | null = null;
  /** call.reporting events seen: one per finished call */
  private callsEnded = 0;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private tickTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  /** one line per webhook per minute at most: a broken template must not flood the log */
  private readonly renderErrorLog = new LogThrottle(60_000);

  private constructor(
    config: Config,
    logger: Logger,
    private readonly opts: DaemonOptions,
  ) {
    this.config = config;
    this.logger = logger;
    this.outbox = new Outbox({ path: config.storage.path, sync: config.storage.sync, retentionMs: config.storage.retention_ms, logger });
    this.metrics = new DaemonMetrics(
      {
        pbx: () => [...this.connections.values()].map((c) => ({ name: c.config.name, type: c.config.type, handle: c, stats: c.stats() })),
        activeCalls: () => this.pipeline.activeCalls,
        activeLegs: () => this.pipeline.activeLegs,
        dispatcher: () => this.dispatcher.stats(),
      },
      this.version,
    );
    const onAttempt = (r: AttemptResult) => {
      this.metrics.observeAttempt(r);
      opts.onAttempt?.(r);
    };
    const onEvent = (ev: CallEvent) => {
      this.metrics.countEvent(ev);
      if (ev.event_name === 'call.reporting') this.callsEnded++;
      opts.onEvent?.(ev);
    };
    this.dispatcher = new Dispatcher({ outbox: this.outbox, webhooks: config.webhooks, logger, onAttempt });
    const onRenderError = (err: unknown, webhook: string, ev: CallEvent) => {
      this.metrics.countRenderError(webhook);
      this.logRenderError(err, webhook, ev);
    };
    this.pipeline = new Pipeline(config, this.dispatcher, logger, { onEvent, onRenderError, state: this.outbox, history: this.outbox });
    this.summary = new SummaryReporter(logger, () => this.summarySample(), opts.summaryIntervalMs ?? SUMMARY_MS);
    this.notifier = new SystemdNotifier(logger);
  }

  /** Load the config, open the store, connect to every PBX. Throws ConfigError / StorageError. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const config = loadConfig(opts.configPath);
    const logger = opts.logger ?? createLogger({ level: config.log.level, pretty: opts.pretty });
    const daemon = new Daemon(config, logger, opts);
    logger.info(summarizeConfig(config), 'callhook starting');
    try {
      daemon.dispatcher.start();
      if (config.http.listen) daemon.http = await startObserveServer(config.http.listen, daemon.observed(), logger, config.http.token);
      for (const pbx of config.pbx) if (pbx.enabled) await daemon.connect(pbx);
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    daemon.tickTimer = setInterval(() => {
      daemon.pipeline.tick(Date.now());
      daemon.notifier.status(daemon.statusLine());
    }, TICK_MS);
    daemon.tickTimer.unref();
    daemon.summary.start();
    if (opts.handleSignals) daemon.installSignalHandlers();
    // the config is loaded, the store open, the PBX connections under way
    daemon.notifier.ready(daemon.statusLine());
    return daemon;
  }

  /** what `systemctl status` shows: each PBX's connection state */
  statusLine(): string {
    const pbx = this.config.pbx.map((p) => {
      if (!p.enabled) return `${p.name} disabled`;
      return `${p.name} ${this.connections.get(p.name)?.stats().connected ? 'connected' : 'not connected'}`;
    });
    return pbx.length ? `PBX: ${pbx.join(', ')}` : 'no PBX configured';
  }

  /** the HTTP server's address (null when http.listen is off) */
  get httpUrl(): string | null {
    return this.http?.url ?? null;
  }

  /** what /readyz answers */
  readiness(): Readiness {
    return readiness(this.observed());
  }

  /** live calls, as /calls shows them */
  calls(): CallView[] {
    return this.pipeline.snapshot().flatMap(({ pbx, calls }) => calls.map((c) => ({ pbx, ...c })));
  }

  /** log the summary line now (also done every summaryIntervalMs) */
  logSummary(message?: string): SummaryLine | null {
    return this.summary.report(message);
  }

  /**
   * Re-read the config file. An invalid file keeps the running config (its problems are
   * logged as FILE:LINE:COL lines). Webhook changes apply at once without losing queued
   * deliveries; only PBX connections whose settings changed reconnect; calls keep their state.
   */
  reload(): Promise<boolean> {
    // one at a time: a second SIGHUP during a reload waits for it, then reads the file again
    const run = this.reloadChain.then(() => this.reloadNow());
    this.reloadChain = run.catch(() => false);
    return run;
  }

  private async reloadNow(): Promise<boolean> {
    if (this.stopping) return false;
    this.notifier.reloading();
    let next: Config;
    try {
      next = loadConfig(this.opts.configPath);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)];
      this.logger.error({ problems }, `config reload failed, keeping the running config: ${problems.join('; ')}`);
      this.metrics.countReload(false);
      this.notifier.ready(`config reload failed, running the previous config (journalctl -u callhook); ${this.statusLine()}`);
      return false;
    }
    const prev = this.config;
    this.config = next;
    this.logger.level = next.log.level;
    this.dispatcher.updateWebhooks(next.webhooks);
    this.pipeline.configure(next);
    for (const pbx of next.pbx) {
      const old = prev.pbx.find((p) => p.name === pbx.name);
      const conn = this.connections.get(pbx.name);
      if (old && conn && pbx.enabled && sameSocket(old, pbx)) {
        conn.configure(pbx, this.keepVariables());
        continue;
      }
      if (old && !conn && !pbx.enabled) continue;
      await this.disconnect(pbx.name);
      if (pbx.enabled) await this.connect(pbx);
    }
    for (const old of prev.pbx) if (!next.pbx.some((p) => p.name === old.name)) await this.disconnect(old.name);
    if (next.http.listen !== prev.http.listen || next.http.token !== prev.http.token) await this.restartHttp(next.http);
    this.metrics.countReload(true);
    this.logger.info({ ...summarizeConfig(next), log_level: next.log.level }, 'config reloaded');
    this.notifier.ready(this.statusLine());
    return true;
  }

  /** Stop intake (PBX connections), drain in-flight deliveries for up to drainMs, close the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('callhook stopping');
      this.notifier.stopping();
      if (this.tickTimer) clearInterval(this.tickTimer);
      this.summary.stop();
      for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
      await Promise.all([...this.connections.keys()].map((n) => this.disconnect(n)));
      await this.dispatcher.close(this.opts.drainMs ?? 10_000);
      this.summary.report('final summary');
      if (this.http) await this.http.close();
      this.http = null;
      this.outbox.close();
      await this.notifier.flushed();
      this.logger.info('callhook stopped');
    })();
    return this.stopping;
  }

  private async restartHttp({ listen, token }: Config['http']): Promise<void> {
    if (this.http) {
      await this.http.close();
      this.logger.info({ url: this.http.url }, 'http server closed');
      this.http = null;
    }
    if (!listen) return;
    try {
      this.http = await startObserveServer(listen, this.observed(), this.logger, token);
    } catch (err) {
      this.logger.error({ err, listen }, `http server cannot listen on ${listen}; /healthz and /metrics are off until the next reload`);
    }
  }

  private observed(): ObservedDaemon {
    return {
      version: this.version,
      startedAt: this.startedAt,
      pbxStates: () =>
        this.config.pbx.map((p) => {
          const s = this.connections.get(p.name)?.stats();
          return { name: p.name, type: p.type, enabled: p.enabled, connected: s?.connected ?? false, reconnects: s?.reconnects ?? 0 };
        }),
      storagePath: () => this.config.storage.path,
      outboxPending: () => this.outbox.pendingStats().pending,
      // what is observed is on disk first: events counted, calls shown
      metrics: async () => {
        this.outbox.flush();
        return { contentType: this.metrics.contentType, body: await this.metrics.text() };
      },
      calls: () => {
        this.outbox.flush();
        return this.calls();
      },
      sinks: () => this.dispatcher.sinkStates(),
      web: {
        version: this.version,
        userAgent: `callhook/${this.version}`,
        liveCalls: () => {
          this.outbox.flush();
          return this.calls();
        },
        recentCalls: (limit) => this.outbox.recentCalls(limit),
        callEvents: (key) => this.outbox.callEvents(key),
        callDeliveries: (key) => this.outbox.callDeliveries(key),
        webhooks: () => this.config.webhooks,
      },
    };
  }

  private summarySample() {
    this.outbox.flush();
    const d = this.dispatcher.stats();
    const pbx: Record<string, boolean> = {};
    for (const p of this.config.pbx) if (p.enabled) pbx[p.name] = this.connections.get(p.name)?.stats().connected ?? false;
    return {
      callsEnded: this.callsEnded,
      activeCalls: this.pipeline.activeCalls,
      activeLegs: this.pipeline.activeLegs,
      delivered: d.delivered,
      failed: d.failed,
      dead: d.dead,
      outboxPending: d.pending,
      oldestPendingAgeMs: d.oldestPendingAgeMs,
      pbx,
    };
  }

  /** channel variables the adapters keep on legs (the recording file) */
  private keepVariables(): string[] {
    return this.config.calls.recording_variable ? [this.config.calls.recording_variable] : [];
  }

  private logRenderError(err: unknown, webhook: string, ev: CallEvent): void {
    const t = this.renderErrorLog.take(webhook);
    if (!t) return;
    this.logger.error(
      { err, webhook, event: ev.event_name, call_id: ev.call_id, suppressed: t.suppressed },
      `event could not be rendered for webhook "${webhook}"; not sent there (callhook_render_errors_total counts them)`,
    );
  }

  private async connect(pbx: PbxConfig): Promise<void> {
    const conn = await createConnection(pbx, (name, signals) => this.pipeline.handle(name, signals), this.logger, this.keepVariables());
    this.connections.set(pbx.name, conn);
    conn.start();
  }

  private async disconnect(name: string): Promise<void> {
    const conn = this.connections.get(name);
    if (!conn) return;
    this.connections.delete(name);
    await conn.stop();
  }

  private installSignalHandlers(): void {
    const on = (sig: NodeJS.Signals, fn: () => void) => {
      process.on(sig, fn);
      this.signalHandlers.push([sig, fn]);
    };
    on('SIGHUP', () => {
      this.logger.info({ file: this.opts.configPath }, 'SIGHUP: reloading the configuration');
      this.reload().catch((err: unknown) => this.logger.error({ err }, 'config reload failed'));
    });
    const shutdown = () => {
      void this.stop().then(
        () => process.exit(EXIT.OK),
        (err) => {
          this.logger.error({ err }, 'error while stopping');
          process.exit(EXIT.SOFTWARE);
        },
      );
    };
    on('SIGTERM', shutdown);
    on('SIGINT', shutdown);
  }
}


/** the settings only a new socket can apply; the rest (trunks, IVRs, timeouts) are reconfigured live */
function sameSocket(a: PbxConfig, b: PbxConfig): boolean {
  const socket = (p: PbxConfig) => JSON.stringify([p.type, p.host, p.port, p.username, p.secret, p.event_format, p.action_timeout_ms, p.ping_interval_ms]);
  return socket(a) === socket(b);
}
