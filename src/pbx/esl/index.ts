/** The FreeSWITCH adapter: ESL framer + translator, live (EslConnection) or over captured bytes. */
import { DEFAULT_PORTS } from '../../config/schema.js';
import type { Signal } from '../../calls/signals.js';
import type { PbxAdapter } from '../types.js';
import { keepSubscribed, parseShowChannels } from './client.js';
import { EslConnection } from './connection.js';
import { EslFramer, eventOf } from './framer.js';
import { ESL_HEADERS_USED, EslTranslator } from './translator.js';

export const eslAdapter: PbxAdapter = {
  type: 'freeswitch',
  defaultPort: DEFAULT_PORTS.freeswitch,
  // a live connection receives only what it subscribed to
  wants: (name) => keepSubscribed(name),
  decoder() {
    // captures hold `event plain ALL`: decode only what a live connection would receive
    const framer = new EslFramer({ keepEvent: keepSubscribed, keepHeaders: ESL_HEADERS_USED });
    const translator = new EslTranslator({ pbxName: 'capture' });
    // as the live connection: a `show channels as json` reply is a resync, and an
    // auth/request after the first one means the connection was lost after the previous chunk
    let logins = 0;
    let lastAt: number | null = null;
    let lostAt: number | null = null;
    return {
      push(chunk, receivedAt) {
        const out: Signal[] = [];
        for (const msg of framer.push(chunk)) {
          const type = msg.headers['Content-Type'];
          if (type === 'auth/request' && logins++ > 0) lostAt = lastAt;
          if (type === 'api/response' && msg.body && /"row_count"/.test(msg.body)) {
            try {
              out.push({ ...translator.resync(parseShowChannels(msg.body), receivedAt), lostAt });
              lostAt = null;
            } catch {
              /* another api reply */
            }
            continue;
          }
          const ev = eventOf(msg);
          if (ev) for (const s of translator.translate(ev, receivedAt)) out.push(s);
        }
        lastAt = receivedAt;
        return out;
      },
    };
  },
  connect: (config, onSignals, logger, keepVariables) => new EslConnection(config, onSignals, logger, keepVariables),
};
