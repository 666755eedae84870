/**
 * Live: real SIP calls (sipp) through a real Asterisk (chan_pjsip), the real daemon logged in
 * as docs/operations.md's manager user, and the webhooks a real receiver gets. One flow per
 * test, each with its own daemon, so LIVE_RECORD=DIR keeps each flow as its own capture.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/calls/events.js';
import { asteriskPbxYaml } from '../helpers/config.js';
import { until } from '../helpers/daemon.js';
import { AmiSession } from './ami-session.js';
import { Phone } from './phone.js';
import { attendedTransferSeen, crashedCallsSeen } from '../helpers/flows.js';
import { LIVE, livePbx, shape, sipp, SIPP_AST, startAsterisk, startCallhook } from './harness.js';

const PORTS = {
  ASTERISK_SIP_PORT: 5700, ASTERISK_AMI_PORT: 15738,
  ASTERISK_CALLER_PORT: 5770, ASTERISK_CALLER2_PORT: 5771, ASTERISK_CALLER3_PORT: 5772,
  ASTERISK_AGENT1_PORT: 5781, ASTERISK_AGENT2_PORT: 5782, ASTERISK_EXTERNAL_PORT: 5790,
  ASTERISK_RTP_START: 21000, ASTERISK_RTP_END: 21399,
};

const live = livePbx(() => startAsterisk(PORTS), 'ami');

const pbxYaml = (port: number) => asteriskPbxYaml(port, '    trunks: ["PJSIP/caller*", "PJSIP/external*"]\n');

const sip = () => `127.0.0.1:${PORTS.ASTERISK_SIP_PORT}`;
/** a phone that rings (180), answers after 1.5 s and waits for the BYE */
const answer = (user: string, port: number) =>
  sipp(['-sf', join(SIPP_AST, 'uas_answer_wait_bye.xml'), '-p', String(port), '-key', 'local_user', user]);
/** a phone that calls `exten` as `from` and hangs up `holdMs` after the answer */
const dial = (from: string, fromPort: number, exten: string, holdMs = 1000, scenario = 'uac_call_bye.xml', extra: string[] = []) =>
  sipp([sip(), '-sf', join(SIPP_AST, scenario), '-s', exten, '-p', String(fromPort), '-key', 'from_user', from, '-d', String(holdMs), ...extra]);

const legs = (evs: CallEvent[]) => evs.filter((e) => e.context === 'LOCAL_USER').map(shape);
const reporting = (evs: CallEvent[]) => evs.find((e) => e.event_name === 'call.reporting')!.reporting!;

describe.skipIf(!LIVE.ready)('live Asterisk', () => {
  it('inbound answered: the agent leg rings, connects and hangs up; the caller is the trunk', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const agent = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    expect(await dial('caller', 6100, '100').done).toBe(0);
    await agent.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent1'), 'the inbound call');
    expect(legs(evs)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
    ]);
    expect(evs.filter((e) => e.call_id).every((e) => e.direction === 'in')).toBe(true);
    expect(evs[0].src).toBe('+15551230001');
    expect(reporting(evs)).toMatchObject({ answered_by: 'PJSIP/agent1', cause: 'answer' });
  });

  it('outbound by an agent with a dial prefix: the agent leg rings while the far end rings; direction out from the first event; dst is the number the trunk was sent', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const far = answer('external', PORTS.ASTERISK_EXTERNAL_PORT);
    expect(await dial('agent1', 6110, '915557654321').done).toBe(0);
    await far.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent1'), 'the outbound call');
    expect(legs(evs)).toEqual([
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
    ]);
    expect(evs.filter((e) => e.call_id).map((e) => e.direction)).toEqual(evs.filter((e) => e.call_id).map(() => 'out'));
    for (const e of evs.filter((x) => x.context === 'LOCAL_USER')) expect(e.dst).toBe('15557654321');
    const r = reporting(evs);
    expect(r.ring_duration).toBeGreaterThanOrEqual(1);
  });

  it('internal: agent to agent, both legs ring, direction internal', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const agent2 = answer('agent2', PORTS.ASTERISK_AGENT2_PORT);
    expect(await dial('agent1', 6120, '101').done).toBe(0);
    await agent2.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent2'), 'the internal call');
    const byLeg = (ep: string) => evs.filter((e) => e.context === 'LOCAL_USER' && e.endpoint === ep).map((e) => e.event_name);
    expect(byLeg('PJSIP/agent1')).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(byLeg('PJSIP/agent2')).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(evs.filter((e) => e.call_id).every((e) => e.direction === 'internal')).toBe(true);
  });

  it('ring group through Local channels: the real endpoints, no helper legs, the loser not missed', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const a1 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    const a2 = sipp(['-sf', join(SIPP_AST, 'uas_ring_no_answer.xml'), '-p', String(PORTS.ASTERISK_AGENT2_PORT), '-key', 'local_user', 'agent2']);
    expect(await dial('caller', 6130, '400').done).toBe(0);
    await a1.done;
    a2.kill();
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent1'), 'the ring group call');
    expect(evs.some((e) => /^Local\//.test(e.endpoint ?? ''))).toBe(false);
    expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
    const r = reporting(evs);
    expect(r.answered_by).toBe('PJSIP/agent1');
    expect(r.legs.map((l) => l.endpoint).sort()).toEqual(['PJSIP/agent1', 'PJSIP/agent2', 'PJSIP/caller']);
  });

  it('a recorded call: recording_url is the template filled in with the file MixMonitor wrote', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT, `calls:
  recording_variable: MIXMONITOR_FILENAME
  recording_url: "https://pbx.example.com/rec/{{recording_file}}"
`));
    const agent = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    expect(await dial('caller', 6140, '500').done).toBe(0);
    await agent.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent1'), 'the recorded call');
    const hangup = evs.find((e) => e.event_name === 'call.hangup')!;
    expect(hangup.recording_url).toMatch(/^https:\/\/pbx\.example\.com\/rec\/in-\d+\.\d+\.wav$/);
    // and an unrecorded call has none
    const a = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    expect(await dial('caller', 6141, '100').done).toBe(0);
    await a.done;
    const plain = await ch.call((e) => e[0].call_id !== evs[0].call_id && e.some((x) => x.endpoint === 'PJSIP/agent1'), 'the plain call');
    expect(plain.every((e) => e.recording_url === null)).toBe(true);
  });

  it("names come through unescaped: Seán O'Brien", async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const agent = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    expect(await dial('caller3', 6150, '100').done).toBe(0);
    await agent.done;
    const evs = await ch.call((e) => e.some((x) => x.src === '+15551230003'), 'the call');
    for (const e of evs.filter((x) => x.call_id)) expect(e.src_name).toBe("Seán O'Brien");
  });

  it('queue: the caller waits in the queue, one agent answers, the ring-all loser is not missed', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const a1 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    const a2 = sipp(['-sf', join(SIPP_AST, 'uas_ring_no_answer.xml'), '-p', String(PORTS.ASTERISK_AGENT2_PORT), '-key', 'local_user', 'agent2']);
    expect(await dial('caller', 6160, '200', 5000, 'uac_call_bye.xml').done).toBe(0);
    await a1.done;
    a2.kill();
    const evs = await ch.call((e) => e.some((x) => x.context === 'QUEUE'), 'the queue call');
    expect(evs.filter((e) => e.context === 'QUEUE').map((e) => `${e.event_name} ${e.state}`)).toEqual(['call.initial INITIAL', 'call.ringing RINGING', 'call.connected CONNECTED', 'call.hangup HANGUP']);
    expect(evs.find((e) => e.context === 'QUEUE')!.queue).toMatchObject({ name: 'support', position: 1 });
    expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
    expect(reporting(evs).answered_by).toBe('PJSIP/agent1');
  });

  it('blind transfer: the caller REFERs agent1 to 101; the call keeps its id, says who transferred whom where, and agent2 takes over', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const a1 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    // agent2 answers the transferred call and hangs up 2 s later
    const a2 = sipp(['-sf', join(SIPP_AST, 'uas_answer_then_bye.xml'), '-p', String(PORTS.ASTERISK_AGENT2_PORT), '-key', 'local_user', 'agent2', '-d', '2000']);
    expect(await dial('caller', 6180, '100', 1500, 'uac_refer.xml', ['-key', 'refer_to', '101']).done).toBe(0);
    await Promise.all([a1.done, a2.done]);
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent2'), 'the transferred call');
    const t = evs.find((e) => e.event_name === 'call.transferred')!;
    expect(t.transfer).toMatchObject({ kind: 'blind', by_endpoint: 'PJSIP/caller', to: '101' });
    expect(evs.filter((e) => e.context === 'LOCAL_USER' && e.event_name === 'call.connected').map((e) => e.endpoint)).toEqual(['PJSIP/agent1', 'PJSIP/agent2']);
    expect(new Set(evs.map((e) => e.call_id)).size).toBe(1);
  });

  it('hold and DTMF by the caller', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const a1 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    expect(await dial('caller', 6170, '100', 1000, 'uac_hold.xml').done).toBe(0);
    await a1.done;
    const held = await ch.call((e) => e.some((x) => x.event_name === 'call.hold'), 'the held call');
    expect(held.filter((e) => e.event_name === 'call.hold' || e.event_name === 'call.unhold').map((e) => `${e.event_name} ${e.hold?.by ?? '-'}`))
      .toEqual(['call.hold remote', 'call.unhold remote']);
    const a2 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    expect(await dial('caller', 6171, '100', 1000, 'uac_dtmf.xml', ['-key', 'd1', '1', '-key', 'd2', '2', '-key', 'd3', '#']).done).toBe(0);
    await a2.done;
    const dtmf = await ch.call((e) => e.some((x) => x.event_name === 'call.dtmf'), 'the DTMF call');
    expect(dtmf.filter((e) => e.event_name === 'call.dtmf').map((e) => e.dtmf?.digit)).toEqual(['1', '2', '#']);
  });
  it('queue wrap-up: START when the queue call of the agent ends, TIMEOUT when wrapuptime (2 s) ran out', async () => {
    const ch = live.use(await startCallhook((port) => asteriskPbxYaml(port, '    trunks: ["PJSIP/caller*", "PJSIP/external*"]\n    wrapup_time: 2s\n'), PORTS.ASTERISK_AMI_PORT));
    const a1 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    const a2 = sipp(['-sf', join(SIPP_AST, 'uas_ring_no_answer.xml'), '-p', String(PORTS.ASTERISK_AGENT2_PORT), '-key', 'local_user', 'agent2']);
    expect(await dial('caller', 6190, '200', 3000, 'uac_call_bye.xml').done).toBe(0);
    await a1.done;
    a2.kill();
    const call = await ch.call((e) => e.some((x) => x.context === 'QUEUE'), 'the queue call');
    await until(() => ch.events().some((e) => e.wrapup?.state === 'TIMEOUT'), 30_000, 'queue.wrapup TIMEOUT');
    const wrap = ch.events().filter((e) => e.event_name === 'queue.wrapup');
    expect(wrap.map((e) => `${e.wrapup?.state} ${e.agent?.member} ${e.wrapup?.seconds} ${e.queue?.name}`)).toEqual(['START PJSIP/agent1 2 support', 'TIMEOUT PJSIP/agent1 2 support']);
    expect(wrap[0].wrapup?.call_id).toBe(call[0].call_id);
    expect(Date.parse(wrap[1].event_time) - Date.parse(wrap[0].event_time)).toBe(2000);
    // START comes when the agent's call ended, not before it
    const agentHangup = call.find((e) => e.event_name === 'call.hangup' && e.endpoint === 'PJSIP/agent1')!;
    expect(Math.abs(Date.parse(wrap[0].event_time) - Date.parse(agentHangup.event_time))).toBeLessThan(1000);
    // numbered per agent, in the agent's own sequence
    expect(wrap.map((e) => e.sequence)).toEqual([1, 2]);
  });
  it('attended transfer from a desk phone: agent1 consults agent2, then REFERs the customer with Replaces; the customer\'s call id follows the customer', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const phone = await Phone.start('agent1', PORTS.ASTERISK_AGENT1_PORT, PORTS.ASTERISK_SIP_PORT);
    try {
      const a2 = answer('agent2', PORTS.ASTERISK_AGENT2_PORT);
      const customer = dial('caller', 6196, '100', 6000);
      const withCustomer = await phone.answered();
      const consult = await phone.call('101');
      await phone.attendedTransfer(withCustomer, consult, '101');
      expect(await customer.done).toBe(0);
      await a2.done;
    } finally {
      phone.close();
    }
    await until(() => ch.events().filter((e) => e.event_name === 'call.reporting').length >= 2, 30_000, 'both reports');
    attendedTransferSeen(ch.events(), 'PJSIP/agent1', 'PJSIP/agent2');
  });
  it('attended transfer with AMI Atxfer (an operator panel): no feature digits as call.dtmf, one call, a segment per agent', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const ami = await AmiSession.open(PORTS.ASTERISK_AMI_PORT, live.pbx().env.AMI_USER, live.pbx().env.AMI_SECRET);
    const a1 = answer('agent1', PORTS.ASTERISK_AGENT1_PORT);
    const a2 = answer('agent2', PORTS.ASTERISK_AGENT2_PORT);
    const customer = dial('caller', 6197, '102', 8000);
    try {
      const agent1 = await ami.next((m) => m.Event === 'BridgeEnter' && m.Channel?.startsWith('PJSIP/agent1-'), 'agent1 bridged');
      const atxfer = await ami.action({ Action: 'Atxfer', Channel: agent1.Channel, Exten: '101', Context: 'from-caller' });
      expect(atxfer.Response, atxfer.Message).toBe('Success');
      await ami.next((m) => m.Event === 'BridgeEnter' && m.Channel?.startsWith('PJSIP/agent2-'), 'agent2 bridged');
      // agent1 hangs up the consult: Asterisk completes the transfer
      expect((await ami.action({ Action: 'Hangup', Channel: agent1.Channel })).Response).toBe('Success');
      await customer.done;
      await Promise.all([a1.done, a2.done]);
    } finally {
      ami.close();
      for (const p of [a1, a2, customer]) p.kill();
    }
    // Atxfer consults through a Local channel in the same call: one call id throughout
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'PJSIP/agent2'), 'the transferred call');
    expect(new Set(ch.events().map((e) => e.call_id)).size).toBe(1);
    expect(evs.filter((e) => e.event_name === 'call.dtmf')).toEqual([]);
    expect(evs.filter((e) => e.event_name === 'call.transferred').map((e) => e.transfer)).toMatchObject([{ kind: 'attended', by_endpoint: 'PJSIP/agent1', to: 'PJSIP/agent2' }]);
    expect(evs.find((e) => e.event_name === 'call.reporting')!.reporting!.segments.map((g) => g.endpoint)).toEqual(['PJSIP/agent1', 'PJSIP/agent2']);
    expect(evs.some((e) => e.endpoint?.startsWith('Local/'))).toBe(false);
  });

  it('daemon killed three times with calls up; calls end while it is down and while it is up: every leg one call.hangup, every call one call.reporting', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.ASTERISK_AMI_PORT));
    const ami = await AmiSession.open(PORTS.ASTERISK_AMI_PORT, live.pbx().env.AMI_USER, live.pbx().env.AMI_SECRET);
    // calls that stay up until the PBX ends them (both phones wait for its BYE)
    const long = (from: string, port: number, exten: string) =>
      sipp([sip(), '-sf', join(SIPP_AST, 'uac_call_wait_bye.xml'), '-s', exten, '-p', String(port), '-key', 'from_user', from], 150);
    const phone = (user: string, port: number) => sipp(['-sf', join(SIPP_AST, 'uas_answer_wait_bye.xml'), '-p', String(port), '-key', 'local_user', user], 150);
    const bridged = (prefix: string, not: string[] = []) =>
      ami.next((m) => m.Event === 'BridgeEnter' && !!m.Channel?.startsWith(prefix) && !not.includes(m.Channel), `${prefix} bridged`, 30_000);
    const connected = (ep: string, n: number) =>
      until(() => ch.events().filter((e) => e.event_name === 'call.connected' && e.endpoint === ep).length >= n, 30_000, `${ep} connected (${n})`);
    const reports = (n: number) => until(() => new Set(ch.events().filter((e) => e.event_name === 'call.reporting').map((e) => e.id)).size >= n, 60_000, `${n} call.reporting`);
    const hangup = async (channel: string) => expect((await ami.action({ Action: 'Hangup', Channel: channel })).Response).toBe('Success');
    const procs = [];
    try {
      // A: caller -> agent1, B: caller2 -> agent2, both up
      const a1 = phone('agent1', PORTS.ASTERISK_AGENT1_PORT);
      const a2 = phone('agent2', PORTS.ASTERISK_AGENT2_PORT);
      procs.push(a1, a2, long('caller', 6160, '100'), long('caller2', 6161, '101'));
      const chanA = (await bridged('PJSIP/agent1-')).Channel;
      const chanB = (await bridged('PJSIP/agent2-')).Channel;
      await connected('PJSIP/agent1', 1);
      await connected('PJSIP/agent2', 1);

      // kill 1; B ends while callhook is down
      await ch.crash();
      await hangup(chanB);
      await a2.done;
      await ch.restart();
      await reports(1);

      // C: caller3 -> agent2, up; kill 2; A ends while callhook is down
      const c2 = phone('agent2', PORTS.ASTERISK_AGENT2_PORT);
      procs.push(c2, long('caller3', 6162, '101'));
      const chanC = (await bridged('PJSIP/agent2-', [chanB])).Channel;
      await connected('PJSIP/agent2', 2);
      await ch.crash();
      await hangup(chanA);
      await a1.done;
      await ch.restart();
      await reports(2);

      // kill 3 with C up throughout; C ends while callhook is up
      await ch.crash();
      await ch.restart();
      await hangup(chanC);
      await c2.done;
      await reports(3);
    } finally {
      ami.close();
      for (const p of procs) p.kill();
    }
    crashedCallsSeen(ch.events(), 'PJSIP/agent1', 'PJSIP/agent2');
  });
});
