/** The Asterisk adapter: AMI framer + translator, live (AmiConnection) or over captured bytes. */
import { DEFAULT_PORTS } from '../../config/schema.js';
import type { Signal } from '../../calls/signals.js';
import type { PbxAdapter } from '../types.js';
import { AmiConnection } from './connection.js';
import { AmiFramer, type AmiMessage } from './framer.js';

const RESYNC_EVENTS = new Set(['CoreShowChannel', 'CoreShowChannelsComplete']);
const BANNER = 'Asterisk Call Manager/';
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
    const framer = new AmiFramer({ keepEvent: (name) => wants(name, keep) || RESYNC_EVENTS.has(name) });
    const translator = new AmiTranslator({ keepVariables: keep });
    // as the live connection: each login's CoreShowChannels reply is a resync, and a login
    // after the first one means the connection was lost after the previous chunk
    let logins = 0;
    let lastAt: number | null = null;
    let lostAt: number | null = null;
    let list: AmiMessage[] = [];
    return {
      push(chunk, receivedAt) {
        const out: Signal[] = [];
        if (chunk.includes(BANNER) && logins++ > 0) lostAt = lastAt;
        lastAt = receivedAt;
        for (const m of framer.push(chunk)) {
          if (m.Event === 'CoreShowChannel') list.push(m);
          else if (m.Event === 'CoreShowChannelsComplete') {
            out.push({ ...translator.resync(list, receivedAt), lostAt });
            list = [];
            lostAt = null;
          } else for (const s of translator.translate(m, receivedAt)) out.push(s);
        }
        return out;
      },
    };
  },
  connect: (config, onSignals, logger, keepVariables) => new AmiConnection(config, onSignals, logger, keepVariables, wants),
};
