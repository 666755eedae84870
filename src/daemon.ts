/**
 * The daemon: wires the pipeline (PBX connections -> pipeline -> outbox -> dispatcher),
 * and owns the lifecycle: start, reload on SIGHUP (keep the old config when the new one
 * is invalid), graceful stop on SIGTERM/SIGINT (stop intake, let in-flight requests finish
 * for a bounded time, leave the rest in the store).
 */
import type { Logger } from 'pino';
import type { CallEvent } from './calls/events.js';
import type { Config, PbxConfig } from './config/types.js';
import { ConfigError, loadConfig } from './config/load.js';
import { Outbox } from './delivery/outbox.js';
import { Dispatcher } from './delivery/dispatcher.js';
import type { AttemptResult } from './delivery/types.js';
import { createConnection, type PbxConnection } from './pbx/connection.js';
import { Pipeline } from './pipeline.js';
import { createLogger, summarizeConfig } from './observe/logger.js';

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
}

/** Exit codes (sysexits.h): systemd's RestartPreventExitStatus=78 keeps a bad config from crash-looping. */
export const EXIT = { OK: 0, SOFTWARE: 70, CONFIG: 78, CANTCREAT: 73 } as const;

const TICK_MS = 60_000;

export class Daemon {
  readonly logger: Logger;
  config: Config;
  readonly outbox: Outbox;
  readonly dispatcher: Dispatcher;
  readonly pipeline: Pipeline;
  readonly connections = new Map<string, PbxConnection>();
  readonly startedAt = Date.now();
  private tickTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  private constructor(
    config: Config,
    logger: Logger,
    private readonly opts: DaemonOptions,
  ) {
    this.config = config;
    this.logger = logger;
    this.outbox = new Outbox({ path: config.storage.path, sync: config.storage.sync, retentionMs: config.storage.retention_ms, logger });
    this.dispatcher = new Dispatcher({ outbox: this.outbox, webhooks: config.webhooks, logger, onAttempt: opts.onAttempt });
    this.pipeline = new Pipeline(config, this.dispatcher, logger, { onEvent: opts.onEvent });
  }

  /** Load the config, open the store, connect to every PBX. Throws ConfigError / StorageError. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const config = loadConfig(opts.configPath);
    const logger = opts.logger ?? createLogger({ level: config.log.level, pretty: opts.pretty });
    const daemon = new Daemon(config, logger, opts);
    logger.info(summarizeConfig(config), 'callhook starting');
    daemon.dispatcher.start();
    for (const pbx of config.pbx) if (pbx.enabled) await daemon.connect(pbx);
    daemon.tickTimer = setInterval(() => daemon.pipeline.tick(Date.now()), TICK_MS);
    daemon.tickTimer.unref();
    if (opts.handleSignals) daemon.installSignalHandlers();
    return daemon;
  }

  /**
   * Re-read the config file. An invalid file keeps the running config (its problems are
   * logged as FILE:LINE:COL lines). Webhook changes apply at once without losing queued
   * deliveries; only PBX connections whose settings changed reconnect; calls keep their state.
   */
  async reload(): Promise<boolean> {
    let next: Config;
    try {
      next = loadConfig(this.opts.configPath);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)];
      this.logger.error({ problems }, `config reload failed, keeping the running config: ${problems.join('; ')}`);
      return false;
    }
    const prev = this.config;
    this.config = next;
    this.logger.level = next.log.level;
    this.dispatcher.updateWebhooks(next.webhooks);
    this.pipeline.update(next);
    for (const pbx of next.pbx) {
      const old = prev.pbx.find((p) => p.name === pbx.name);
      if (old && sameConnection(old, pbx) && this.connections.has(pbx.name) === pbx.enabled) continue;
      await this.disconnect(pbx.name);
      if (pbx.enabled) await this.connect(pbx);
    }
    for (const old of prev.pbx) if (!next.pbx.some((p) => p.name === old.name)) await this.disconnect(old.name);
    this.logger.info(summarizeConfig(next), 'config reloaded');
    return true;
  }

  /** Stop intake (PBX connections), drain in-flight deliveries for up to drainMs, close the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('callhook stopping');
      if (this.tickTimer) clearInterval(this.tickTimer);
      for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
      await Promise.all([...this.connections.keys()].map((n) => this.disconnect(n)));
      await this.dispatcher.close(this.opts.drainMs ?? 10_000);
      this.outbox.close();
      this.logger.info('callhook stopped');
    })();
    return this.stopping;
  }

  private async connect(pbx: PbxConfig): Promise<void> {
    const keep = this.config.calls.recording_variable ? [this.config.calls.recording_variable] : [];
    const conn = await createConnection(pbx, (name, signals) => this.pipeline.handle(name, signals), this.logger, keep);
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
    on('SIGHUP', () => void this.reload());
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

function sameConnection(a: PbxConfig, b: PbxConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
