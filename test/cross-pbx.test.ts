/**
 * The same call scenario recorded on a real Asterisk and on a real FreeSWITCH must give a
 * CRM the same webhooks: the same sequence of (event_name, context, state), with the
 * callers configured as trunk legs on both. Where the two recordings must differ (what the
 * PBX or its recorded configuration really did), the difference is asserted explicitly and
 * says why.
 */
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { simulate } from '../src/simulate.js';
import { ASTERISK_TRUNKS_YAML, configFrom } from './helpers/config.js';
import { FREESWITCH_TRUNKS_YAML, fsCapture } from './helpers/freeswitch.js';

const astConfig = configFrom(ASTERISK_TRUNKS_YAML);
const fsConfig = configFrom(FREESWITCH_TRUNKS_YAML);

const asterisk = (name: string) => simulate('asterisk', `test/fixtures/asterisk/${name}.ami`, astConfig);
const freeswitch = (name: string) => simulate('freeswitch', fsCapture(name, 'json'), fsConfig);

const triple = (e: CallEvent) => `${e.event_name} ${e.context} ${e.state ?? '-'}`;
const triples = (events: CallEvent[]) => events.map(triple);

/** The same scenario on both PBXes: Asterisk capture, FreeSWITCH capture. */
const SAME: Array<[string, string, string]> = [
  ['answered, caller hangs up', 'a-answered-caller-hangup', 'a-answered-caller-bye'],
  ['answered, agent hangs up', 'b-answered-agent-hangup', 'b-answered-agent-bye'],
  ['no answer (dial timeout)', 'c-no-answer-dial-timeout', 'c-ring-no-answer-timeout'],
  ['agent busy (486)', 'd-agent-busy-486', 'd-agent-busy-486'],
  ['caller cancels while ringing', 'e-caller-cancel-while-ringing', 'e-caller-cancel-ringing'],
  ['hold / unhold', 'f-hold-unhold', 'f-hold-unhold'],
  ['DTMF by SIP INFO', 'g-dtmf-info-midcall', 'g-dtmf-info'],
  ['IVR digits, then an agent', 'k-ivr-digits-then-agent', 'j-ivr-digits-then-agent'],
  ['click-to-call originate', 'l-ami-originate-outbound', 'k-esl-originate'],
];

describe('Asterisk and FreeSWITCH give the same (event_name, context, state) sequence', () => {
  it.each(SAME)('%s', async (_what, ast, fs) => {
    const a = await asterisk(ast);
    const f = await freeswitch(fs);
    expect(a.length).toBeGreaterThan(0);
    expect(triples(f)).toEqual(triples(a));
    // and the fields a CRM keys on agree where both PBXes know them
    const last = (evs: CallEvent[]) => evs[evs.length - 1];
    expect(last(f).direction).toBe(last(a).direction);
    expect(last(f).reporting?.cause).toBe(last(a).reporting?.cause);
    expect(last(f).reporting?.type).toBe(last(a).reporting?.type);
    expect(f.filter((e) => e.event_name === 'call.missed').length).toBe(a.filter((e) => e.event_name === 'call.missed').length);
    expect(f.map((e) => e.hold?.by ?? null)).toEqual(a.map((e) => e.hold?.by ?? null));
    expect(f.map((e) => e.dtmf?.pressed_by ?? null)).toEqual(a.map((e) => e.dtmf?.pressed_by ?? null));
    // how many digits the call has so far, event by event (the IVR captures pressed different keys: 55# and 12#)
    expect(f.map((e) => e.digits.length)).toEqual(a.map((e) => e.digits.length));
    expect(a.every((e) => e.pbx.type === 'asterisk')).toBe(true);
    expect(f.every((e) => e.pbx.type === 'freeswitch')).toBe(true);
  });

  it('three concurrent calls: each call the same sequence', async () => {
    const byCall = (evs: CallEvent[]) => {
      const m = new Map<string, string[]>();
      for (const e of evs) m.set(e.call_id!, [...(m.get(e.call_id!) ?? []), triple(e)]);
      return [...m.values()];
    };
    const a = byCall(await asterisk('n-concurrent-calls'));
    const f = byCall(await freeswitch('l-concurrent-calls'));
    expect(f).toHaveLength(3);
    expect(f).toEqual(a);
  });
});

/** QUEUE and CALL events plus the LOCAL_USER events of one member's leg. */
function withMember(events: CallEvent[], endpoint: string): CallEvent[] {
  return events.filter((e) => e.context !== 'LOCAL_USER' || e.endpoint === endpoint);
}

describe('queues: the same stay, with the differences the recordings really have', () => {
  it('answered: the queue stay and the answering member agree', async () => {
    const a = await asterisk('h-queue-answered');
    const f = await freeswitch('h-queue-answered');
    // The stay, as a CRM sees it
    const queue = (evs: CallEvent[]) => triples(evs.filter((e) => e.context === 'QUEUE'));
    expect(queue(f)).toEqual(queue(a));
    expect(queue(f)).toEqual(['call.initial QUEUE INITIAL', 'call.ringing QUEUE RINGING', 'call.connected QUEUE CONNECTED', 'call.hangup QUEUE HANGUP']);
    expect(f.find((e) => e.event_name === 'call.hangup' && e.context === 'QUEUE')?.queue?.disposition).toBe('answered');
    expect(a.find((e) => e.event_name === 'call.hangup' && e.context === 'QUEUE')?.queue?.disposition).toBe('answered');

    // The answering member (Asterisk: agent1, FreeSWITCH: agent2) and the stay, interleaved
    // the same way, except for where the member's call.initial falls (see below).
    const answered = (evs: CallEvent[]) => evs.find((e) => e.event_name === 'call.connected' && e.context === 'LOCAL_USER')!.endpoint!;
    const noMemberInitial = (evs: CallEvent[]) => triples(withMember(evs, answered(evs)).filter((e) => !(e.event_name === 'call.initial' && e.context === 'LOCAL_USER')));
    expect(noMemberInitial(f)).toEqual(noMemberInitial(a));

    // DIFFERENCE (the recorded queue configuration, not the PBX): the Asterisk queue is
    // `ringall`, so both members were rung and agent2 lost the race (initial, ringing,
    // hangup, not missed); mod_callcenter's `longest-idle-agent` offered only agent2. So
    // Asterisk has one more member leg, and its answering member is created after the
    // queue already rang (the first member offered made it ring).
    const members = (evs: CallEvent[]) => new Set(evs.filter((e) => e.context === 'LOCAL_USER').map((e) => e.endpoint));
    expect(members(a)).toEqual(new Set(['PJSIP/agent1', 'PJSIP/agent2']));
    expect(members(f)).toEqual(new Set(['sofia/internal/agent2']));
    expect(triples(a.filter((e) => e.endpoint === 'PJSIP/agent2' && e.context === 'LOCAL_USER'))).toEqual([
      'call.initial LOCAL_USER INITIAL',
      'call.ringing LOCAL_USER RINGING',
      'call.hangup LOCAL_USER HANGUP',
    ]);
  });

  it('abandoned: the queue stay and the first member offered agree', async () => {
    const a = await asterisk('i-queue-abandoned');
    const f = await freeswitch('i-queue-abandoned');
    const first = (evs: CallEvent[]) => evs.find((e) => e.event_name === 'call.initial' && e.context === 'LOCAL_USER')!.endpoint!;
    expect(triples(withMember(f, first(f)))).toEqual(triples(withMember(a, first(a))));
    expect(triples(withMember(f, first(f)))).toEqual([
      'call.initial QUEUE INITIAL',
      'call.initial LOCAL_USER INITIAL',
      'call.ringing QUEUE RINGING',
      'call.ringing LOCAL_USER RINGING',
      'call.missed QUEUE HANGUP',
      'call.hangup QUEUE HANGUP',
      'call.hangup LOCAL_USER HANGUP',
      'call.reporting CALL -',
    ]);
    for (const evs of [a, f]) {
      expect(evs.find((e) => e.event_name === 'call.missed')?.queue?.disposition).toBe('abandoned');
      expect(evs.filter((e) => e.event_name === 'call.missed' && e.context === 'LOCAL_USER')).toEqual([]);
    }
    // DIFFERENCE (recorded configuration): Asterisk's ringall queue also rang agent2; the
    // FreeSWITCH queue offered agent1 only.
    expect(new Set(a.filter((e) => e.context === 'LOCAL_USER').map((e) => e.endpoint)).size).toBe(2);
    expect(new Set(f.filter((e) => e.context === 'LOCAL_USER').map((e) => e.endpoint)).size).toBe(1);
  });

  it('DIFFERENCE: mod_callcenter reports no queue position; Asterisk does', async () => {
    const a = await asterisk('h-queue-answered');
    const f = await freeswitch('h-queue-answered');
    expect(a[0].queue).toMatchObject({ name: 'support', position: 1 });
    // callcenter::info member-queue-start carries no position (only members-count, with no caller)
    expect(f[0].queue).toMatchObject({ name: 'support', position: null });
  });
});
