/** Offline decoding of a raw ESL capture (`simulate`, tests): framer + translator, no socket. */
import type { DecoderOptions, SignalDecoder } from '../capture.js';
import type { Signal } from '../../calls/signals.js';
import { EslFramer, eventOf } from './framer.js';
import { EslTranslator } from './translator.js';
import { keepSubscribed } from './client.js';

export function createEslDecoder(_opts: DecoderOptions = {}): SignalDecoder {
  // as a live connection, which receives only what it subscribed to (captures hold `event plain ALL`)
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
}
