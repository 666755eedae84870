/**
 * The one adapter shape both PBXes implement (src/pbx/ami, src/pbx/esl), and what the
 * daemon and the offline decoder see of them: a live connection that hands the pipeline
 * normalized signals, and a decoder that turns captured socket bytes into the same signals.
 */
import type { Logger } from 'pino';
import type { PbxType, Signal } from '../calls/signals.js';
import type { PbxConfig } from '../config/types.js';

export type SignalHandler = (pbxName: string, signals: Signal[]) => void;

export interface ConnectionStats {
  connected: boolean;
  reconnects: number;
  parseErrors: number;
  events: number;
}

/** One live PBX connection as the daemon sees it. */
export interface PbxConnection {
  readonly config: PbxConfig;
  start(): void;
  stop(): Promise<void>;
  stats(): ConnectionStats;
  /** applies settings that need no new socket (a reload): the variables kept on legs */
  configure(config: PbxConfig, keepVariables: string[]): void;
}

/** Captured socket bytes in, signals out: the live path's framer and translator, no socket. */
export interface SignalDecoder {
  push(chunk: Buffer, receivedAt: number): Signal[];
}

export interface DecoderOptions {
  /** channel variables worth keeping on legs (the recording file variable) */
  keepVariables?: string[];
}

export interface PbxAdapter {
  readonly type: PbxType;
  readonly defaultPort: number;
  /** whether the translator reads events of this name (the rest are skipped unparsed) */
  wants(eventName: string, keepVariables: readonly string[]): boolean;
  decoder(opts?: DecoderOptions): SignalDecoder;
  connect(config: PbxConfig, onSignals: SignalHandler, logger: Logger, keepVariables: string[]): PbxConnection;
}
