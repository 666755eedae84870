/**
 * Every real FreeSWITCH capture (`event plain` and `event json` of the same calls) through
 * the same framer, translator and tracker as the daemon (`callhook simulate`). The expected
 * sequences are written by hand from the scenario descriptions in
 * shared/captures/freeswitch/README.md and DESIGN §3, not snapshotted from output.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { simulate } from '../src/simulate.js';
import { configFrom } from './helpers/config.js';
import { FREESWITCH_TRUNKS_YAML, FS_SCENARIOS, fsCapture } from './helpers/freeswitch.js';

const withTrunks = configFrom(FREESWITCH_TRUNKS_YAML);

const AGENT1 = 'sofia/internal/agent1';
const AGENT2 = 'sofia/internal/agent2';
const CALLER = 'sofia/internal/15551230001';
const FAR_END = 'sofia/internal/999';

/** "event_name context state endpoint" per event, the compact form the expectations use. */
function seq(events: CallEvent[]): string[] {
  return events.map((e) => [e.event_name, e.context, e.state ?? '-', e.endpoint ?? '-'].join(' '));
}

const run = (name: string, trunks = true, format: 'plain' | 'json' = 'json') =>
  simulate('freeswitch', fsCapture(name, format), trunks ? withTrunks : null);

describe('plain and json captures of the same calls give the same events', () => {
  it.each(FS_SCENARIOS)('%s', async (name) => {
    const json = await run(name, true, 'json');
    const plain = await run(name, true, 'plain');
    expect(json.length).toBeGreaterThan(0);
    expect(plain).toEqual(json);
  });
});

describe('freeswitch captures through simulate (the caller is a trunk leg)', () => {
  it('a: answered by agent1, caller hangs up', async () => {
    const ev = await run('a-answered-caller-bye');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${AGENT1}`,
    ]);
    expect(ev[2]).toMatchObject({ direction: 'in', src: '15551230001', src_name: 'Alice', dst: '100', previous_state: 'RINGING' });
    expect(ev[3]).toMatchObject({ hangup_cause: 'NORMAL_CLEARING', hangup_cause_code: 16, sip_status: 200, previous_state: 'CONNECTED' });
    // agent rang ~1.5 s, talked ~6 s (Event-Date-Timestamp of the recorded events)
    expect(ev[3].ring_duration).toBeGreaterThanOrEqual(1);
    expect(ev[3].ring_duration).toBeLessThanOrEqual(2);
    expect(ev[3].talk_duration).toBeGreaterThanOrEqual(5);
    expect(ev[3].talk_duration).toBeLessThanOrEqual(7);
    expect(ev.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(ev.map((e) => e.call_id))).toEqual(new Set(['a6f9ebc5-f93e-4cbb-bbe7-f40d87f14400']));
    expect(new Set(ev.map((e) => e.id)).size).toBe(5);
    expect(ev.every((e) => e.pbx.type === 'freeswitch' && e.signal.source === 'esl')).toBe(true);
    expect(ev[4].reporting).toMatchObject({ cause: 'answer', type: 'direct', answered_by: AGENT1, did: '100', billing_duration: 6 });
  });

  it('b: answered, the agent hangs up', async () => {
    const ev = await run('b-answered-agent-bye');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${AGENT1}`,
    ]);
    expect(ev[3]).toMatchObject({ hangup_cause: 'NORMAL_CLEARING', sip_status: 200, direction: 'in' });
    expect(ev[4].reporting?.cause).toBe('answer');
  });

  it('c: agent rings, call_timeout expires: missed; the caller got 480', async () => {
    const ev = await run('c-ring-no-answer-timeout');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      'call.reporting CALL - -',
    ]);
    // FreeSWITCH CANCELled the agent's INVITE (487) and answered the caller 480
    expect(ev[2]).toMatchObject({ hangup_cause: 'NO_ANSWER', hangup_cause_code: 19, sip_status: 487 });
    expect(ev[2].ring_duration).toBeGreaterThanOrEqual(11);
    expect(ev[4].sip_status).toBe(480);
    expect(ev[4].reporting).toMatchObject({ cause: 'no_answer', answered_by: null, billing_duration: 0 });
  });

  it('d: agent busy (486, no 180): missed without ringing, cause USER_BUSY', async () => {
    const ev = await run('d-agent-busy-486');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      'call.reporting CALL - -',
    ]);
    expect(ev[2]).toMatchObject({ hangup_cause: 'USER_BUSY', hangup_cause_code: 17, sip_status: 486, previous_state: 'INITIAL' });
    expect(ev[3].reporting?.cause).toBe('busy');
  });

  it('e: the caller cancels while the agent rings: missed (the caller gave up)', async () => {
    const ev = await run('e-caller-cancel-ringing');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      'call.reporting CALL - -',
    ]);
    expect(ev[3]).toMatchObject({ hangup_cause: 'ORIGINATOR_CANCEL', sip_status: 487 });
    expect(ev[4].reporting?.cause).toBe('cancel');
  });

  it('f: the caller holds: the agent goes ON_HOLD by remote, then back', async () => {
    const ev = await run('f-hold-unhold');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hold LOCAL_USER ON_HOLD ${AGENT1}`,
      `call.unhold LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${AGENT1}`,
    ]);
    expect(ev[3]).toMatchObject({ hold: { by: 'remote' }, previous_state: 'CONNECTED' });
    expect(ev[4]).toMatchObject({ hold: { by: 'remote' }, previous_state: 'ON_HOLD' });
    // hold 4 s after hold started: CHANNEL_HOLD and CALLSTATE HELD of one re-INVITE are one event
    expect(Date.parse(ev[4].event_time) - Date.parse(ev[3].event_time)).toBeGreaterThanOrEqual(3500);
  });

  it('g: SIP INFO DTMF 1 2 #: one call.dtmf per key press, by the caller', async () => {
    const ev = await run('g-dtmf-info');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.dtmf CALL - ${CALLER}`,
      `call.dtmf CALL - ${CALLER}`,
      `call.dtmf CALL - ${CALLER}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${AGENT1}`,
    ]);
    const dtmf = ev.filter((e) => e.event_name === 'call.dtmf');
    expect(dtmf.map((e) => [e.dtmf?.digit, e.dtmf?.pressed_by, e.digits, e.state])).toEqual([
      ['1', 'caller', '1', null],
      ['2', 'caller', '12', null],
      ['#', 'caller', '12#', null],
    ]);
    // INFO body Duration=250
    expect(dtmf[0].dtmf?.duration_ms).toBe(250);
    expect(ev[ev.length - 1].digits).toBe('12#');
  });

  it('h: queue answered by agent2 (agent1 never offered); FreeSWITCH answered the caller on entry', async () => {
    const ev = await run('h-queue-answered');
    expect(seq(ev)).toEqual([
      'call.initial QUEUE INITIAL -',
      `call.initial LOCAL_USER INITIAL ${AGENT2}`,
      'call.ringing QUEUE RINGING -',
      `call.ringing LOCAL_USER RINGING ${AGENT2}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT2}`,
      `call.connected QUEUE CONNECTED ${AGENT2}`,
      `call.hangup QUEUE HANGUP ${AGENT2}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT2}`,
      `call.reporting CALL - ${AGENT2}`,
    ]);
    expect(ev[6].queue).toMatchObject({ name: 'support', disposition: 'answered', wait_seconds: 2 });
    expect(ev[0]).toMatchObject({ direction: 'in', dst: '200', src: '15551230001' });
    expect(ev[8].reporting).toMatchObject({ type: 'queue', cause: 'answer', answered_by: AGENT2 });
    expect(ev[8].reporting?.legs.map((l) => [l.endpoint, l.role, l.outcome])).toEqual([
      [CALLER, 'caller', 'caller'],
      [AGENT2, 'member', 'answered'],
    ]);
  });

  it('i: queue abandoned by the caller: QUEUE missed (abandoned), the ringing member not missed', async () => {
    const ev = await run('i-queue-abandoned');
    expect(seq(ev)).toEqual([
      'call.initial QUEUE INITIAL -',
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      'call.ringing QUEUE RINGING -',
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      'call.missed QUEUE HANGUP -',
      'call.hangup QUEUE HANGUP -',
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      'call.reporting CALL - -',
    ]);
    expect(ev[4].queue).toMatchObject({ name: 'support', disposition: 'abandoned' });
    expect(ev[4].queue?.wait_seconds).toBeGreaterThanOrEqual(5);
    expect(ev[4].queue?.wait_seconds).toBeLessThanOrEqual(7);
    expect(ev[6]).toMatchObject({ hangup_cause: 'ORIGINATOR_CANCEL', sip_status: 487 });
    expect(ev[7].reporting).toMatchObject({ type: 'queue', cause: 'cancel' });
  });

  it('j: IVR digits 1 2 # (the caller in the IVR), then agent1 answers', async () => {
    const ev = await run('j-ivr-digits-then-agent');
    expect(seq(ev)).toEqual([
      `call.dtmf CALL - ${CALLER}`,
      `call.dtmf CALL - ${CALLER}`,
      `call.dtmf CALL - ${CALLER}`,
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${AGENT1}`,
    ]);
    expect(ev[2]).toMatchObject({ digits: '12#', dtmf: { digit: '#', pressed_by: 'caller' } });
    expect(ev[7]).toMatchObject({ digits: '12#', dst: '300' });
  });

  it('k: ESL originate (click-to-call): agent1 then the far end 999, outbound', async () => {
    const ev = await run('k-esl-originate');
    expect(seq(ev)).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${FAR_END}`,
    ]);
    // the number dialled is only known once the bridge leg to 999 exists (as with Asterisk's Originate)
    expect(ev[0].dst).toBeNull();
    expect(ev[3]).toMatchObject({ direction: 'out', src: 'agent1', dst: '999', hangup_cause: 'NORMAL_CLEARING' });
    expect(ev[4].reporting).toMatchObject({ type: 'originate', cause: 'answer', answered_by: FAR_END });
  });

  it('l: three concurrent calls stay apart, each in order', async () => {
    const ev = await run('l-concurrent-calls');
    const byCall = new Map<string, CallEvent[]>();
    for (const e of ev) byCall.set(e.call_id!, [...(byCall.get(e.call_id!) ?? []), e]);
    expect(byCall.size).toBe(3);
    for (const [, events] of byCall) {
      expect(seq(events)).toEqual([
        `call.initial LOCAL_USER INITIAL ${AGENT1}`,
        `call.ringing LOCAL_USER RINGING ${AGENT1}`,
        `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
        `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
        `call.reporting CALL - ${AGENT1}`,
      ]);
      expect(events.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('m: RFC 2833 DTMF 1 2: one call.dtmf per digit, by the caller', async () => {
    const ev = await run('m-dtmf-rfc2833');
    const dtmf = ev.filter((e) => e.event_name === 'call.dtmf');
    expect(dtmf.map((e) => [e.context, e.endpoint, e.dtmf?.digit, e.dtmf?.pressed_by, e.digits])).toEqual([
      ['CALL', CALLER, '1', 'caller', '1'],
      ['CALL', CALLER, '2', 'caller', '12'],
    ]);
    expect(seq(ev.filter((e) => e.event_name !== 'call.dtmf'))).toEqual([
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      `call.ringing LOCAL_USER RINGING ${AGENT1}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.reporting CALL - ${AGENT1}`,
    ]);
  });

  it('n: queue, agent1 busy (its own 486: missed), agent2 answers', async () => {
    const ev = await run('n-queue-agent-busy-failover');
    expect(seq(ev)).toEqual([
      'call.initial QUEUE INITIAL -',
      `call.initial LOCAL_USER INITIAL ${AGENT1}`,
      'call.ringing QUEUE RINGING -',
      `call.missed LOCAL_USER HANGUP ${AGENT1}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT1}`,
      `call.initial LOCAL_USER INITIAL ${AGENT2}`,
      `call.ringing LOCAL_USER RINGING ${AGENT2}`,
      `call.connected LOCAL_USER CONNECTED ${AGENT2}`,
      `call.connected QUEUE CONNECTED ${AGENT2}`,
      `call.hangup QUEUE HANGUP ${AGENT2}`,
      `call.hangup LOCAL_USER HANGUP ${AGENT2}`,
      `call.reporting CALL - ${AGENT2}`,
    ]);
    expect(ev[3]).toMatchObject({ hangup_cause: 'USER_BUSY', sip_status: 486, queue: { name: 'support' } });
    expect(ev[9].queue).toMatchObject({ name: 'support', disposition: 'answered' });
    expect(ev[11].reporting?.legs.map((l) => [l.endpoint, l.outcome])).toEqual([
      [CALLER, 'caller'],
      [AGENT1, 'missed'],
      [AGENT2, 'answered'],
    ]);
  });
});

describe('freeswitch captures without trunks (every leg local, direction internal)', () => {
  it('a: the caller leg gets its own LOCAL_USER events and is never missed', async () => {
    const ev = await run('a-answered-caller-bye', false);
    expect(seq(ev).filter((s) => s.endsWith(CALLER))).toEqual([
      `call.initial LOCAL_USER INITIAL ${CALLER}`,
      `call.ringing LOCAL_USER RINGING ${CALLER}`,
      `call.connected LOCAL_USER CONNECTED ${CALLER}`,
      `call.hangup LOCAL_USER HANGUP ${CALLER}`,
    ]);
    expect(ev.every((e) => e.direction === 'internal')).toBe(true);
  });

  it('c: the caller leg is not missed, the agent leg is', async () => {
    const ev = await run('c-ring-no-answer-timeout', false);
    expect(ev.filter((e) => e.event_name === 'call.missed').map((e) => e.endpoint)).toEqual([AGENT1]);
  });

  it('f: the holding caller is ON_HOLD by local, the agent by remote', async () => {
    const ev = await run('f-hold-unhold', false);
    expect(ev.filter((e) => e.event_name === 'call.hold' || e.event_name === 'call.unhold').map((e) => [e.event_name, e.endpoint, e.hold?.by])).toEqual([
      ['call.hold', CALLER, 'local'],
      ['call.hold', AGENT1, 'remote'],
      ['call.unhold', CALLER, 'local'],
      ['call.unhold', AGENT1, 'remote'],
    ]);
  });

  it('h: the queue answers the caller on entry, before the stay starts', async () => {
    const ev = await run('h-queue-answered', false);
    expect(seq(ev).slice(0, 3)).toEqual([`call.initial LOCAL_USER INITIAL ${CALLER}`, `call.connected LOCAL_USER CONNECTED ${CALLER}`, 'call.initial QUEUE INITIAL -']);
  });
});

describe('every leg and queue stay ends with exactly one call.hangup; every call with one call.reporting', () => {
  it.each(FS_SCENARIOS)('%s', async (name) => {
    const ev = await run(name, false);
    const initial = ev.filter((e) => e.event_name === 'call.initial').map((e) => `${e.context}:${e.leg_id}`);
    const hangup = ev.filter((e) => e.event_name === 'call.hangup').map((e) => `${e.context}:${e.leg_id}`);
    expect(hangup.sort()).toEqual(initial.sort());
    const calls = new Set(ev.map((e) => e.call_id));
    expect(ev.filter((e) => e.event_name === 'call.reporting').length).toBe(calls.size);
    for (const m of ev.filter((e) => e.event_name === 'call.missed')) expect(m.state).toBe('HANGUP');
  });
});

describe('callhook simulate --pbx freeswitch (the command)', () => {
  it.each(['plain', 'json'] as const)('prints one JSON event per line for a %s capture', (format) => {
    const out = execFileSync(process.execPath, ['dist/src/cli.js', 'simulate', '--pbx', 'freeswitch', fsCapture('a-answered-caller-bye', format)], { encoding: 'utf8' });
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as CallEvent);
    // no trunks configured: the caller's leg is local too
    expect(lines.map((e) => `${e.event_name} ${e.endpoint}`)).toEqual([
      `call.initial ${CALLER}`,
      `call.initial ${AGENT1}`,
      `call.ringing ${AGENT1}`,
      `call.ringing ${CALLER}`,
      `call.connected ${AGENT1}`,
      `call.connected ${CALLER}`,
      `call.hangup ${AGENT1}`,
      `call.hangup ${CALLER}`,
      `call.reporting ${AGENT1}`,
    ]);
    for (const e of lines) {
      expect(e.pbx).toEqual({ name: 'pbx1', type: 'freeswitch' });
      expect(e.signal.source).toBe('esl');
    }
  });
});
