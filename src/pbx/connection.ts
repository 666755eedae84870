/**
 * One live PBX connection as the daemon sees it: it starts, stops, says whether it is
 * connected, and hands the pipeline normalized signals. One implementation per PBX type.
 */
import type { Logger } from 'pino';
import type { Signal } from '../calls/signals.js';
import type { PbxConfig } from '../config/types.js';

export type SignalHandler = (pbxName: string, signals: Signal[]) => void;

export interface ConnectionStats {
  connected: boolean;
  reconnects: number;
  parseErrors: number;
  events: number;
}

export interface PbxConnection {
  readonly config: PbxConfig;
  start(): void;
  stop(): Promise<void>;
  stats(): ConnectionStats;
}

export async function createConnection(config: PbxConfig, onSignals: SignalHandler, logger: Logger, keepVariables: string[]): Promise<PbxConnection> {
  if (config.type === 'asterisk') {
    const { AmiConnection } = await import('./ami/connection.js');
    return new AmiConnection(config, onSignals, logger, keepVariables);
  }
  const { EslConnection } = await import('./esl/connection.js');
  return new EslConnection(config, onSignals, logger, keepVariables);
}
