/**
 * A live Asterisk connection: the AMI client (framing, login, keepalive, reconnect,
 * CoreShowChannels resync) feeding the AMI translator, whose signals go to the pipeline.
 */
import type { Logger } from 'pino';
import type { PbxConfig } from '../../config/types.js';
import type { ConnectionStats, PbxConnection, SignalHandler } from '../types.js';
import { PbxClock } from '../clock.js';
import { AmiClient } from './client.js';
import type { AmiMessage } from './framer.js';
import { AmiTranslator } from './translator.js';

export class AmiConnection implements PbxConnection {
  private readonly client: AmiClient;
  private readonly translator: AmiTranslator;
  private reconnects = 0;
  private events = 0;
  private everConnected = false;
  private keepVariables: string[];
  /** when the connection was last lost (on the PBX's clock), until the resync after the reconnect */
  private lostAt: number | null = null;
  private readonly clock = new PbxClock();

  constructor(
    public config: PbxConfig,
    private readonly onSignals: SignalHandler,
    logger: Logger,
    keepVariables: string[],
    wants: (name: string, keepVariables: readonly string[]) => boolean,
  ) {
    this.keepVariables = keepVariables;
    this.translator = new AmiTranslator({ keepVariables });
    this.client = new AmiClient({
      host: config.host,
      port: config.port,
      username: config.username ?? '',
      secret: config.secret,
      actionTimeoutMs: config.action_timeout_ms,
      pingIntervalMs: config.ping_interval_ms,
      logger: logger.child({ pbx: config.name }),
      name: config.name,
      // most of an AMI stream is events nobody reads: skip them in the framer
      keepEvent: (name) => wants(name, this.keepVariables),
    });
    this.client.on('event', (m: AmiMessage) => {
      this.events++;
      const signals = this.translator.translate(m, Date.now());
      if (signals.length) {
        this.clock.saw(signals[signals.length - 1].time);
        this.onSignals(this.config.name, signals);
      }
    });
    this.client.on('disconnected', () => {
      this.lostAt ??= this.clock.now();
    });
    this.client.on('resync', (list: AmiMessage[]) => {
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      this.onSignals(this.config.name, [{ ...this.translator.resync(list, Date.now()), lostAt: this.lostAt }]);
      this.lostAt = null;
    });
  }

  configure(config: PbxConfig, keepVariables: string[]): void {
    this.config = config;
    this.keepVariables = keepVariables;
    this.translator.keepVariables(keepVariables);
  }

  start(): void {
    this.client.start();
  }

  stop(): Promise<void> {
    return this.client.stop();
  }

  stats(): ConnectionStats {
    return {
      connected: this.client.connected,
      reconnects: this.reconnects,
      parseErrors: this.translator.malformed + this.client.stats.malformedLines,
      // every event received, whether built or skipped unparsed as unused
      events: this.events + this.client.stats.skippedEvents,
    };
  }
}
