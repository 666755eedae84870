// End to end in process: raw ESL capture -> framer -> translator -> tracker -> events,
// checked against DESIGN §3 for each FreeSWITCH scenario.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CallTracker } from '../src/calls/tracker.js';
import type { CallEvent } from '../src/calls/events.js';
import { EslFramer, eventOf } from '../src/pbx/esl/framer.js';
import { EslTranslator } from '../src/pbx/esl/translator.js';

const DIR = new URL('./fixtures/freeswitch/', import.meta.url);

function run(scenario: string): CallEvent[] {
  const framer = new EslFramer();
  const tr = new EslTranslator({ pbxName: 'fs1' });
  const tracker = new CallTracker({ pbx: { name: 'fs1', type: 'freeswitch' }, source: 'esl' });
  const out: CallEvent[] = [];
  for (const m of framer.push(readFileSync(new URL(`${scenario}.json.esl`, DIR)))) {
    const ev = eventOf(m);
    if (!ev) continue;
    for (const s of tr.translate(ev, 0)) out.push(...tracker.apply(s));
  }
  return out;
}

/** "event_name context state endpoint" per event, leaving out call.reporting */
function lines(events: CallEvent[]): string[] {
  return events.filter((e) => e.event_name !== 'call.reporting').map((e) => `${e.event_name} ${e.context} ${e.state} ${e.endpoint ?? '-'}`);
}

const CALLER = 'sofia/internal/15551230001';
const AGENT1 = 'sofia/internal/agent1';
const AGENT2 = 'sofia/internal/agent2';

describe('FreeSWITCH capture -> tracker events', () => {
  it('a: answered call', () => {
    const ev = run('a-answered-caller-bye');
    const agent = lines(ev).filter((l) => l.endsWith(AGENT1));
    expect(agent).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
    ]);
    expect(ev.filter((e) => e.event_name === 'call.reporting')).toHaveLength(1);
    expect(new Set(ev.map((e) => e.call_id)).size).toBe(1);
    const hang = ev.find((e) => e.event_name === 'call.hangup' && e.endpoint === AGENT1)!;
    expect(hang).toMatchObject({ hangup_cause: 'NORMAL_CLEARING', hangup_cause_code: 16, pbx: { name: 'fs1', type: 'freeswitch' } });
  });

  it('c: agent rang out (call_timeout): the agent leg is missed', () => {
    const agent = lines(run('c-ring-no-answer-timeout')).filter((l) => l.endsWith(AGENT1));
    expect(agent).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
    ]);
  });

  it('d: agent busy: missed', () => {
    const agent = lines(run('d-agent-busy-486')).filter((l) => l.endsWith(AGENT1));
    expect(agent).toEqual([`call.initial LOCAL_USER INITIAL ${AGENT1}`, `call.missed LOCAL_USER HANGUP ${AGENT1}`, `call.hangup LOCAL_USER HANGUP ${AGENT1}`]);
  });

  it('e: caller gave up while the agent rang: the direct leg is missed', () => {
    const agent = lines(run('e-caller-cancel-ringing')).filter((l) => l.endsWith(AGENT1));
    expect(agent).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
    ]);
  });

  it('f: hold by the caller puts the agent leg on hold (by remote)', () => {
    const ev = run('f-hold-unhold');
    const holds = ev.filter((e) => e.event_name === 'call.hold' || e.event_name === 'call.unhold');
    const agentHolds = holds.filter((e) => e.endpoint === AGENT1);
    expect(agentHolds.map((e) => `${e.event_name} ${e.state} ${e.hold?.by}`)).toEqual(['call.hold ON_HOLD remote', 'call.unhold CONNECTED remote']);
  });

  it('g: three digits, once each, pressed by the caller', () => {
    const dtmf = run('g-dtmf-info').filter((e) => e.event_name === 'call.dtmf');
    expect(dtmf.map((e) => `${e.dtmf?.digit} ${e.dtmf?.pressed_by} ${e.context}`)).toEqual(['1 caller CALL', '2 caller CALL', '# caller CALL']);
    expect(dtmf[2].digits).toBe('12#');
  });

  it('h: queue answered: QUEUE stay initial/ringing/connected/hangup, agent2 connected', () => {
    const ev = run('h-queue-answered');
    const l = lines(ev);
    expect(l.filter((x) => x.includes(' QUEUE ')).map((x) => x.split(' ').slice(0, 3).join(' '))).toEqual([
      'call.initial QUEUE INITIAL',
      'call.ringing QUEUE RINGING',
      'call.connected QUEUE CONNECTED',
      'call.hangup QUEUE HANGUP',
    ]);
    expect(l.filter((x) => x.endsWith(AGENT2) && x.includes(' LOCAL_USER '))).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT2}`,
      `call.ringing LOCAL_USER RINGING ${AGENT2}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT2}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT2}`,
    ]);
    const qh = ev.find((e) => e.event_name === 'call.hangup' && e.context === 'QUEUE')!;
    expect(qh.queue).toMatchObject({ name: 'support', disposition: 'answered' });
    expect(new Set(ev.map((e) => e.call_id)).size).toBe(1);
  });

  it('i: queue abandoned: stay missed; the ringing agent is not missed', () => {
    const ev = run('i-queue-abandoned');
    const l = lines(ev);
    expect(l.filter((x) => x.includes(' QUEUE ')).map((x) => x.split(' ').slice(0, 3).join(' '))).toEqual([
      'call.initial QUEUE INITIAL',
      'call.ringing QUEUE RINGING',
      'call.missed QUEUE HANGUP',
      'call.hangup QUEUE HANGUP',
    ]);
    expect(l.filter((x) => x.endsWith(AGENT1) && x.includes(' LOCAL_USER '))).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
    ]);
    expect(ev.find((e) => e.event_name === 'call.missed')!.queue).toMatchObject({ disposition: 'abandoned' });
  });

  it('n: agent1 busy is a missed member leg; agent2 answers', () => {
    const l = lines(run('n-queue-agent-busy-failover'));
    expect(l.filter((x) => x.endsWith(AGENT1) && x.includes(' LOCAL_USER '))).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
    ]);
    expect(l.filter((x) => x.endsWith(AGENT2) && x.includes(' LOCAL_USER ')).map((x) => x.split(' ')[0])).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(l.filter((x) => x.includes(' QUEUE ')).map((x) => x.split(' ')[0])).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
  });

  it('k: ESL originate: agent1 leg then the 999 leg, one call, both connected', () => {
    const ev = run('k-esl-originate');
    expect(lines(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      'call.initial LOCAL_USER INITIAL sofia/internal/999',
      'call.ringing LOCAL_USER RINGING sofia/internal/999',
      'call.connected LOCAL_USER CONNECTED sofia/internal/999',
      'call.hangup LOCAL_USER HANGUP sofia/internal/999',
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
    ]);
    expect(new Set(ev.map((e) => e.call_id)).size).toBe(1);
  });

  it('caller leg (the party who placed the call) is never missed', () => {
    for (const s of ['c-ring-no-answer-timeout', 'd-agent-busy-486', 'e-caller-cancel-ringing']) {
      expect(run(s).filter((e) => e.event_name === 'call.missed' && e.endpoint === CALLER)).toEqual([]);
    }
  });
});
