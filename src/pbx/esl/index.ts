/** The FreeSWITCH adapter: ESL framer + translator, live (EslConnection) or over captured bytes. */
import { DEFAULT_PORTS } from '../../config/schema.js';
import type { Signal } from '../../calls/signals.js';
import type { PbxAdapter } from '../types.js';
import { keepSubscribed } from './client.js';
import { EslConnection } from './connection.js';
import { EslFramer, eventOf } from './framer.js';
import { EslTranslator } from './translator.js';

export const eslAdapter: PbxAdapter = {
  type: 'freeswitch',
  defaultPort: DEFAULT_PORTS.freeswitch,
  // a live connection receives only what it subscribed to
  wants: (name) => keepSubscribed(name),
  decoder() {
    // captures hold `event plain ALL`: decode only what a live connection would receive
    const framer = new EslFramer({ keepEvent: keepSubscribed });
    const translator = new EslTranslator({ pbxName: 'capture' });
    return {
      push(chunk, receivedAt) {
        const out: Signal[] = [];
        for (const msg of framer.push(chunk)) {
          const ev = eventOf(msg);
          if (ev) for (const s of translator.translate(ev, receivedAt)) out.push(s);
        }
        return out;
      },
    };
  },
  connect: (config, onSignals, logger, keepVariables) => new EslConnection(config, onSignals, logger, keepVariables),
};
