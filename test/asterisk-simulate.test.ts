/**
 * Every real Asterisk capture through the same framer, translator and tracker as the
 * daemon (`callhook simulate`). The expected sequences are written by hand from the
 * scenario descriptions in shared/captures/asterisk/README.md and DESIGN §3, not
 * snapshotted from output.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { simulate } from '../src/simulate.js';
import { ASTERISK_TRUNKS_YAML, configFrom } from './helpers/config.js';

const FIX = 'test/fixtures/asterisk';
const withTrunks = configFrom(ASTERISK_TRUNKS_YAML);

/** "event_name context state endpoint" per event, the compact form the expectations use. */
function seq(events: CallEvent[]): string[] {
  return events.map((e) => [e.event_name, e.context, e.state ?? '-', e.endpoint ?? '-'].join(' '));
}

const run = (name: string, trunks = true) => simulate('asterisk', `${FIX}/${name}.ami`, trunks ? withTrunks : null);

describe('asterisk captures through simulate (callers are trunk legs)', () => {
  it('a: answered, caller hangs up', async () => {
    const ev = await run('a-answered-caller-hangup');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
    const connected = ev[2];
    expect(connected).toMatchObject({ direction: 'in', src: '+15551230001', src_name: 'Alice Caller', dst: '100', dst_name: 'Agent One', previous_state: 'RINGING' });
    const hangup = ev[3];
    expect(hangup).toMatchObject({ hangup_cause: 'NORMAL_CLEARING', hangup_cause_code: 16, sip_status: 200 });
    // agent rang ~1.5 s, talked ~4 s (recorded times from the capture sidecar)
    expect(hangup.ring_duration).toBeGreaterThanOrEqual(1);
    expect(hangup.ring_duration).toBeLessThanOrEqual(2);
    expect(hangup.talk_duration).toBeGreaterThanOrEqual(3);
    expect(hangup.talk_duration).toBeLessThanOrEqual(5);
    expect(ev.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(ev.map((e) => e.call_id)).size).toBe(1);
    expect(new Set(ev.map((e) => e.id)).size).toBe(5);
    expect(ev[4].reporting).toMatchObject({ cause: 'answer', type: 'direct', answered_by: 'PJSIP/agent1', did: '100' });
  });

  it('b: answered, agent hangs up', async () => {
    const ev = await run('b-answered-agent-hangup');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
  });

  it('c: agent rings, never answers, dial timeout: missed', async () => {
    const ev = await run('c-no-answer-dial-timeout');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.missed LOCAL_USER HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - -',
    ]);
    expect(ev[2].ring_duration).toBeGreaterThanOrEqual(19);
    expect(ev[4].reporting).toMatchObject({ cause: 'no_answer', answered_by: null, billing_duration: 0 });
    expect(ev[4].sip_status).toBe(480);
  });

  it('d: agent busy (486): missed, cause USER_BUSY', async () => {
    const ev = await run('d-agent-busy-486');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.missed LOCAL_USER HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - -',
    ]);
    expect(ev[2]).toMatchObject({ hangup_cause: 'USER_BUSY', hangup_cause_code: 17, sip_status: 486 });
    expect(ev[3].reporting?.cause).toBe('busy');
  });

  it('e: caller cancels while the agent rings: missed (the caller gave up)', async () => {
    const ev = await run('e-caller-cancel-while-ringing');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.missed LOCAL_USER HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - -',
    ]);
    expect(ev[4].reporting?.cause).toBe('cancel');
  });

  it('f: hold by the caller puts the agent ON_HOLD by remote, then unhold', async () => {
    const ev = await run('f-hold-unhold');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hold LOCAL_USER ON_HOLD PJSIP/agent1',
      'call.unhold LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
    expect(ev[3].hold).toEqual({ by: 'remote' });
    expect(ev[3].previous_state).toBe('CONNECTED');
    expect(ev[4].hold).toEqual({ by: 'remote' });
  });

  it('g: SIP INFO DTMF 1 2 #: one call.dtmf per key press, none for the relayed copies', async () => {
    const ev = await run('g-dtmf-info-midcall');
    const dtmf = ev.filter((e) => e.event_name === 'call.dtmf');
    expect(dtmf.map((e) => [e.context, e.endpoint, e.dtmf?.digit, e.dtmf?.pressed_by, e.digits])).toEqual([
      ['CALL', 'PJSIP/caller', '1', 'caller', '1'],
      ['CALL', 'PJSIP/caller', '2', 'caller', '12'],
      ['CALL', 'PJSIP/caller', '#', 'caller', '12#'],
    ]);
    expect(dtmf[0].dtmf?.duration_ms).toBe(250);
    expect(ev[ev.length - 1].digits).toBe('12#');
  });

  it('h: queue, ring-all, agent1 answers; agent2 lost the race and is not missed', async () => {
    const ev = await run('h-queue-answered');
    expect(seq(ev)).toEqual([
      'call.initial QUEUE INITIAL -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing QUEUE RINGING -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.connected QUEUE CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
      'call.hangup QUEUE HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
    const stayEnd = ev[9];
    expect(stayEnd.queue).toMatchObject({ name: 'support', position: 1, disposition: 'answered' });
    expect(ev[8]).toMatchObject({ hangup_cause: 'NORMAL_CLEARING_ANSWERED_ELSEWHERE', hangup_cause_code: 26 });
    expect(ev[11].reporting?.legs.map((l) => [l.endpoint, l.outcome])).toEqual([
      ['PJSIP/caller', 'caller'],
      ['PJSIP/agent2', 'answered_elsewhere'],
      ['PJSIP/agent1', 'answered'],
    ]);
  });

  it('i: queue abandoned by the caller: QUEUE missed (abandoned), members not missed', async () => {
    const ev = await run('i-queue-abandoned');
    expect(seq(ev)).toEqual([
      'call.initial QUEUE INITIAL -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing QUEUE RINGING -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.missed QUEUE HANGUP -',
      'call.hangup QUEUE HANGUP -',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - -',
    ]);
    expect(ev[6].queue).toMatchObject({ name: 'support', disposition: 'abandoned' });
    expect(ev[6].queue?.wait_seconds).toBeGreaterThanOrEqual(4);
    expect(ev[10].reporting).toMatchObject({ type: 'queue', cause: 'cancel' });
  });

  it('j: queue timeout (Asterisk also sends QueueCallerAbandon): disposition timeout, members whose ring timed out are missed', async () => {
    const ev = await run('j-queue-timeout');
    expect(seq(ev)).toEqual([
      'call.initial QUEUE INITIAL -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing QUEUE RINGING -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.missed LOCAL_USER HANGUP PJSIP/agent2',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
      'call.missed LOCAL_USER HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.missed QUEUE HANGUP -',
      'call.hangup QUEUE HANGUP -',
      'call.reporting CALL - -',
    ]);
    expect(ev[10].queue).toMatchObject({ name: 'support', disposition: 'timeout' });
    expect(ev[12].reporting?.cause).toBe('no_answer');
  });

  it('k: IVR digits 5 5 # then agent1 answers', async () => {
    const ev = await run('k-ivr-digits-then-agent');
    expect(seq(ev)).toEqual([
      'call.dtmf CALL - PJSIP/caller',
      'call.dtmf CALL - PJSIP/caller',
      'call.dtmf CALL - PJSIP/caller',
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
    expect(ev[2].digits).toBe('55#');
    expect(ev[7].digits).toBe('55#');
  });

  it('l: AMI Originate click-to-call: agent1 then the external number, outbound', async () => {
    const ev = await run('l-ami-originate-outbound');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/external',
    ]);
    expect(ev[3]).toMatchObject({ direction: 'out', src: '2001', dst: '+15557654321' });
    expect(ev[4].reporting).toMatchObject({ type: 'originate', cause: 'answer' });
  });

  it('m: blind transfer by REFER: agent1 then agent2', async () => {
    const ev = await run('m-blind-transfer-refer');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.transferred CALL - PJSIP/caller',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent2',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
      'call.reporting CALL - PJSIP/agent1',
    ]);
    // the caller REFERred agent1 to 101 (BlindTransfer): the call keeps its id and says so
    expect(ev.find((e) => e.event_name === 'call.transferred')!.transfer).toEqual({
      kind: 'blind', by_leg: '1795268528.50', by_endpoint: 'PJSIP/caller', transferee_leg: '1795268528.51', to: '101',
    });
  });

  it('n: three concurrent calls stay apart, each in order', async () => {
    const ev = await run('n-concurrent-calls');
    const byCall = new Map<string, CallEvent[]>();
    for (const e of ev) byCall.set(e.call_id!, [...(byCall.get(e.call_id!) ?? []), e]);
    expect(byCall.size).toBe(3);
    for (const [, events] of byCall) {
      expect(events.map((e) => e.event_name)).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup', 'call.reporting']);
      expect(events.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
    }
    expect([...byCall.values()].map((e) => e[0].endpoint).sort()).toEqual(['PJSIP/agent1', 'PJSIP/agent1', 'PJSIP/agent2']);
  });

  it('o: CoreShowChannels/Status responses mid-call do not disturb the call', async () => {
    const ev = await run('o-status-coreshowchannels-midcall');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
  });

  it('p: PBX shutdown mid-call: both legs hang up, the call is reported', async () => {
    const ev = await run('p-shutdown-midcall');
    expect(seq(ev)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.reporting CALL - PJSIP/agent1',
    ]);
  });

  it('q: Originate to a busy agent: the placing leg is never missed', async () => {
    const ev = await run('q-ami-originate-agent-busy');
    expect(seq(ev)).toEqual(['call.initial LOCAL_USER INITIAL PJSIP/agent1', 'call.hangup LOCAL_USER HANGUP PJSIP/agent1', 'call.reporting CALL - -']);
    expect(ev[1]).toMatchObject({ hangup_cause: 'USER_BUSY', sip_status: 486 });
    expect(ev[2].reporting?.cause).toBe('busy');
  });
});

describe('IVR and agents', () => {
  it('k with an IVR configured: ivr.start on answer, ivr.end with the digits when the agent is dialled; reporting names it', async () => {
    const config = configFrom(ASTERISK_TRUNKS_YAML.replace('trunks:', 'ivrs: [{name: main-menu, exten: "300", context: from-caller}]\n    trunks:'));
    const ev = await simulate('asterisk', `${FIX}/k-ivr-digits-then-agent.ami`, config);
    expect(seq(ev).slice(0, 6)).toEqual([
      'ivr.start IVR - PJSIP/caller',
      'call.dtmf CALL - PJSIP/caller',
      'call.dtmf CALL - PJSIP/caller',
      'call.dtmf CALL - PJSIP/caller',
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'ivr.end IVR - PJSIP/caller',
    ]);
    expect(ev[0].ivr).toEqual({ name: 'main-menu', digits: '' });
    expect(ev[5].ivr).toEqual({ name: 'main-menu', digits: '55#' });
    expect(ev[ev.length - 1].reporting).toMatchObject({ type: 'ivr', ivr: 'main-menu', cause: 'answer' });
  });

  it('an IVR in another context does not match', async () => {
    const config = configFrom(ASTERISK_TRUNKS_YAML.replace('trunks:', 'ivrs: [{name: main-menu, exten: "300", context: other}]\n    trunks:'));
    const ev = await simulate('asterisk', `${FIX}/k-ivr-digits-then-agent.ami`, config);
    expect(ev.some((e) => e.event_name.startsWith('ivr.'))).toBe(false);
  });
});

describe('asterisk captures without trunks (every leg local, direction internal)', () => {
  it('a: the caller leg gets its own LOCAL_USER events, and is never missed', async () => {
    const ev = await run('a-answered-caller-hangup', false);
    expect(seq(ev).filter((s) => s.endsWith('PJSIP/caller'))).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/caller',
      'call.ringing LOCAL_USER RINGING PJSIP/caller',
      'call.connected LOCAL_USER CONNECTED PJSIP/caller',
      'call.hangup LOCAL_USER HANGUP PJSIP/caller',
    ]);
    expect(ev.every((e) => e.direction === 'internal')).toBe(true);
  });

  it('f: the holding caller is ON_HOLD by local, the agent by remote', async () => {
    const ev = await run('f-hold-unhold', false);
    expect(ev.filter((e) => e.event_name === 'call.hold').map((e) => [e.endpoint, e.hold?.by])).toEqual([
      ['PJSIP/caller', 'local'],
      ['PJSIP/agent1', 'remote'],
    ]);
  });

  it('c: the caller leg is not missed, the agent leg is', async () => {
    const ev = await run('c-no-answer-dial-timeout', false);
    expect(ev.filter((e) => e.event_name === 'call.missed').map((e) => e.endpoint)).toEqual(['PJSIP/agent1']);
  });
});

describe('every leg and queue stay ends with exactly one call.hangup; every call with one call.reporting', () => {
  it.each([
    'a-answered-caller-hangup', 'b-answered-agent-hangup', 'c-no-answer-dial-timeout', 'd-agent-busy-486', 'e-caller-cancel-while-ringing',
    'f-hold-unhold', 'g-dtmf-info-midcall', 'h-queue-answered', 'i-queue-abandoned', 'j-queue-timeout', 'k-ivr-digits-then-agent',
    'l-ami-originate-outbound', 'm-blind-transfer-refer', 'n-concurrent-calls', 'o-status-coreshowchannels-midcall', 'p-shutdown-midcall', 'q-ami-originate-agent-busy',
  ])('%s', async (name) => {
    const ev = await run(name, false);
    const initial = ev.filter((e) => e.event_name === 'call.initial').map((e) => `${e.context}:${e.leg_id}`);
    const hangup = ev.filter((e) => e.event_name === 'call.hangup').map((e) => `${e.context}:${e.leg_id}`);
    expect(hangup.sort()).toEqual(initial.sort());
    const calls = new Set(ev.map((e) => e.call_id));
    expect(ev.filter((e) => e.event_name === 'call.reporting').length).toBe(calls.size);
    for (const m of ev.filter((e) => e.event_name === 'call.missed')) expect(m.state).toBe('HANGUP');
  });
});

describe('callhook simulate (the command)', () => {
  it('prints one JSON event per line in the default format', () => {
    const out = execFileSync(process.execPath, ['dist/src/cli.js', 'simulate', '--pbx', 'asterisk', `${FIX}/a-answered-caller-hangup.ami`], { encoding: 'utf8' });
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as CallEvent);
    expect(lines.map((e) => e.event_name)).toEqual([
      'call.initial', 'call.initial', 'call.ringing', 'call.ringing', 'call.connected', 'call.connected', 'call.hangup', 'call.hangup', 'call.reporting',
    ]);
    for (const e of lines) {
      for (const key of ['id', 'event_name', 'event_time', 'sequence', 'call_id', 'leg_id', 'context', 'state', 'previous_state', 'direction', 'src', 'src_name', 'dst', 'dst_name', 'endpoint', 'queue', 'start_time', 'ringing_at', 'connected_at', 'ended_at', 'duration', 'ring_duration', 'talk_duration', 'hangup_cause', 'hangup_cause_code', 'sip_status', 'dtmf', 'hold', 'digits', 'recording_url', 'pbx', 'signal']) {
        expect(e, `${e.event_name} has ${key}`).toHaveProperty(key);
      }
      expect(e.pbx).toEqual({ name: 'pbx1', type: 'asterisk' });
      expect(e.signal.source).toBe('ami');
    }
  });
});
