/**
 * IVRs named in config, on both PBXes' IVR captures (Asterisk k, FreeSWITCH j: the caller
 * dials 300, the IVR answers, collects digits, then the call goes to agent1): the same
 * ivr.start / ivr.end events, the digits entered in the IVR, and call.reporting naming it.
 */
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { simulate } from '../src/simulate.js';
import { ASTERISK_TRUNKS_YAML, configFrom } from './helpers/config.js';
import { FREESWITCH_TRUNKS_YAML, FS_FIX } from './helpers/freeswitch.js';

const withIvr = (yaml: string) => configFrom(yaml.replace('    trunks:', '    ivrs: [{name: main-menu, exten: "300"}]\n    trunks:'));
const ivrEvents = (ev: CallEvent[]) => ev.filter((e) => e.context === 'IVR').map((e) => [e.event_name, e.ivr?.name, e.ivr?.digits]);

describe('IVR events on both PBXes', () => {
  it('Asterisk k and FreeSWITCH j give the same IVR story', async () => {
    const ast = await simulate('asterisk', 'test/fixtures/asterisk/k-ivr-digits-then-agent.ami', withIvr(ASTERISK_TRUNKS_YAML));
    const fs = await simulate('freeswitch', `${FS_FIX}/j-ivr-digits-then-agent.json.esl`, withIvr(FREESWITCH_TRUNKS_YAML));
    expect(ivrEvents(ast)).toEqual([['ivr.start', 'main-menu', ''], ['ivr.end', 'main-menu', '55#']]);
    expect(ivrEvents(fs)).toEqual([['ivr.start', 'main-menu', ''], ['ivr.end', 'main-menu', '12#']]);
    for (const ev of [ast, fs]) {
      const end = ev.find((e) => e.event_name === 'ivr.end')!;
      // the IVR ends when the call is dialled onward, before the agent's leg rings
      expect(ev.indexOf(end)).toBeLessThan(ev.findIndex((e) => e.event_name === 'call.ringing'));
      expect(ev[ev.length - 1].reporting).toMatchObject({ type: 'ivr', ivr: 'main-menu', cause: 'answer' });
    }
  });
});
