/**
 * The PBX adapters by type, loaded on first use (a FreeSWITCH-only daemon never loads the
 * AMI code). Everything outside src/pbx/ reaches the adapters through here.
 */
import type { PbxType } from '../calls/signals.js';
import type { PbxConfig } from '../config/types.js';
import type { Logger } from 'pino';
import type { DecoderOptions, PbxAdapter, PbxConnection, SignalDecoder, SignalHandler } from './types.js';

export type { ConnectionStats, PbxConnection, SignalDecoder, SignalHandler } from './types.js';

const ADAPTERS: Record<PbxType, () => Promise<PbxAdapter>> = {
  asterisk: async () => (await import('./ami/index.js')).amiAdapter,
  freeswitch: async () => (await import('./esl/index.js')).eslAdapter,
};

export function adapterFor(type: PbxType): Promise<PbxAdapter> {
  return ADAPTERS[type]();
}

export async function createConnection(config: PbxConfig, onSignals: SignalHandler, logger: Logger, keepVariables: string[]): Promise<PbxConnection> {
  return (await adapterFor(config.type)).connect(config, onSignals, logger, keepVariables);
}

export async function createDecoder(type: PbxType, opts: DecoderOptions = {}): Promise<SignalDecoder> {
  return (await adapterFor(type)).decoder(opts);
}
