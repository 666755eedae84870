/**
 * A live FreeSWITCH connection: the ESL client (framing, auth, subscription, keepalive,
 * reconnect, `show channels` resync) feeding the ESL translator, whose signals go to the
 * pipeline.
 */
import type { Logger } from 'pino';
import type { PbxConfig } from '../../config/types.js';
import type { ConnectionStats, PbxConnection, SignalHandler } from '../types.js';
import { PbxClock } from '../clock.js';
import { EslClient } from './client.js';
import { ESL_HEADERS_USED, EslTranslator } from './translator.js';

export class EslConnection implements PbxConnection {
  private readonly client: EslClient;
  private readonly translator: EslTranslator;
  private reconnects = 0;
  private everConnected = false;
  /** when the connection was last lost (on the PBX's clock), until the resync after the reconnect */
  private lostAt: number | null = null;
  private readonly clock = new PbxClock();

  constructor(
    public config: PbxConfig,
    private readonly onSignals: SignalHandler,
    logger: Logger,
    _keepVariables: string[],
  ) {
    this.translator = new EslTranslator({ pbxName: config.name });
    this.client = new EslClient({
      host: config.host,
      port: config.port,
      password: config.secret,
      eventFormat: config.event_format,
      apiTimeoutMs: config.action_timeout_ms,
      pingIntervalMs: config.ping_interval_ms,
      logger,
      name: config.name,
      keepHeaders: ESL_HEADERS_USED,
    });
    this.client.on('event', (ev: Record<string, string>, receivedAt: number) => {
      const signals = this.translator.translate(ev, receivedAt);
      if (signals.length) {
        this.clock.saw(signals[signals.length - 1].time);
        this.onSignals(this.config.name, signals);
      }
    });
    this.client.on('disconnected', () => {
      this.lostAt ??= this.clock.now();
    });
    this.client.on('resync', (rows: unknown[], time: number) => {
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      this.onSignals(this.config.name, [{ ...this.translator.resync(rows, time), lostAt: this.lostAt }]);
      this.lostAt = null;
    });
  }

  configure(config: PbxConfig, _keepVariables: string[]): void {
    this.config = config;
  }

  start(): void {
    this.client.start();
  }

  stop(): Promise<void> {
    return this.client.close();
  }

  stats(): ConnectionStats {
    const s = this.client.stats;
    return {
      connected: this.client.ready,
      reconnects: this.reconnects,
      parseErrors: this.translator.stats.malformed + s.malformedEvents + s.framingErrors,
      events: s.events,
    };
  }
}
