/** The Asterisk adapter: AMI framer + translator, live (AmiConnection) or over captured bytes. */
import { DEFAULT_PORTS } from '../../config/schema.js';
import type { Signal } from '../../calls/signals.js';
import type { PbxAdapter } from '../types.js';
import { AmiConnection } from './connection.js';
import { AmiFramer } from './framer.js';
import { AMI_EVENTS_USED, AmiTranslator } from './translator.js';

/** VarSet is most of an AMI stream; it is read only when a variable is kept */
function wants(name: string, keepVariables: readonly string[]): boolean {
  return AMI_EVENTS_USED.has(name) && (name !== 'VarSet' || keepVariables.length > 0);
}

export const amiAdapter: PbxAdapter = {
  type: 'asterisk',
  defaultPort: DEFAULT_PORTS.asterisk,
  wants,
  decoder(opts = {}) {
    const keep = opts.keepVariables ?? [];
    const framer = new AmiFramer({ keepEvent: (name) => wants(name, keep) });
    const translator = new AmiTranslator({ keepVariables: keep });
    return {
      push(chunk, receivedAt) {
        const out: Signal[] = [];
        for (const m of framer.push(chunk)) for (const s of translator.translate(m, receivedAt)) out.push(s);
        return out;
      },
    };
  },
  connect: (config, onSignals, logger, keepVariables) => new AmiConnection(config, onSignals, logger, keepVariables, wants),
};
