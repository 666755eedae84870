/**
 * Live: real SIP calls (sipp) through a real FreeSWITCH (mod_sofia, mod_callcenter), the real
 * daemon on its event socket as docs/operations.md configures it, and the webhooks a real
 * receiver gets. The same flows as asterisk.live.test.ts, where FreeSWITCH has them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/calls/events.js';
import { until } from '../helpers/daemon.js';
import { attendedTransferSeen, crashedCallsSeen } from '../helpers/flows.js';
import { Phone } from './phone.js';
import { LIVE, livePbx, shape, sipp, SIPP_AST, SIPP_FS, startCallhook, startFreeswitch, type Callhook } from './harness.js';

const PORTS = {
  FREESWITCH_SIP_PORT: 5800, FREESWITCH_ESL_PORT: 18821, FREESWITCH_ESL_PASSWORD: 'live-esl-secret',
  FREESWITCH_AGENT1_PORT: 5881, FREESWITCH_AGENT2_PORT: 5882,
  FREESWITCH_RTP_START: 16600, FREESWITCH_RTP_END: 16799,
};
/** where the FreeSWITCH template's outbound route (9 + number) sends the carrier leg */
const CARRIER_PORT = 5890;

const live = livePbx(() => startFreeswitch(PORTS), 'esl');

// FreeSWITCH has one sofia profile here: carriers and callers are sofia/internal/<number>
const pbxYaml = (port: number) => `
pbx:
  - name: fs1
    type: freeswitch
    host: 127.0.0.1
    port: ${port}
    secret: ${PORTS.FREESWITCH_ESL_PASSWORD}
    trunks: ["sofia/internal/1555*"]
`;

const sip = () => `127.0.0.1:${PORTS.FREESWITCH_SIP_PORT}`;
const answer = (user: string, port: number, extra: string[] = []) =>
  sipp(['-sf', join(SIPP_FS, 'uas_answer_wait_bye.xml'), '-p', String(port), '-s', user, '-d', '1500', ...extra]);
const dial = (caller: string, name: string, fromPort: number, exten: string, holdMs = 1000, scenario = 'uac_caller_bye.xml', extra: string[] = []) =>
  sipp([sip(), '-sf', join(SIPP_FS, scenario), '-s', exten, '-p', String(fromPort), '-key', 'caller', caller, '-key', 'caller_name', name, '-d', String(holdMs), ...extra]);

/** Bob calls the support queue (200) from fromPort and stays holdMs; both agents are ready, the first to answer takes it */
async function queueCall(fromPort: number, holdMs: number): Promise<void> {
  const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
  const a2 = answer('agent2', PORTS.FREESWITCH_AGENT2_PORT);
  expect(await dial('15551230002', 'Bob', fromPort, '200', holdMs).done).toBe(0);
  await Promise.race([a1.done, a2.done]);
  a1.kill();
  a2.kill();
}

const legs = (evs: CallEvent[]) => evs.filter((e) => e.context === 'LOCAL_USER').map(shape);
const reporting = (evs: CallEvent[]) => evs.find((e) => e.event_name === 'call.reporting')!.reporting!;

describe.skipIf(!LIVE.ready)('live FreeSWITCH', () => {
  it('inbound answered: the agent leg rings, connects and hangs up; the caller is the trunk', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const agent = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    expect(await dial('15551230001', 'Alice', 6200, '100').done).toBe(0);
    await agent.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent1'), 'the inbound call');
    expect(legs(evs)).toEqual([
      'call.initial LOCAL_USER INITIAL sofia/internal/agent1',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent1',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent1',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent1',
    ]);
    expect(evs.filter((e) => e.call_id).every((e) => e.direction === 'in')).toBe(true);
    expect(reporting(evs)).toMatchObject({ answered_by: 'sofia/internal/agent1', cause: 'answer' });
  });

  it('outbound by an agent with a dial prefix: the agent leg rings, direction out from the first event, dst is the number the carrier got', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const far = answer('15557654321', CARRIER_PORT);
    expect(await dial('agent1', 'Agent One', 6210, '915557654321').done).toBe(0);
    await far.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent1'), 'the outbound call');
    expect(legs(evs)).toEqual([
      'call.initial LOCAL_USER INITIAL sofia/internal/agent1',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent1',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent1',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent1',
    ]);
    const callEvents = evs.filter((e) => e.call_id);
    expect(callEvents.map((e) => e.direction)).toEqual(callEvents.map(() => 'out'));
    for (const e of evs.filter((x) => x.context === 'LOCAL_USER')) expect(e.dst).toBe('15557654321');
    expect(reporting(evs).ring_duration).toBeGreaterThanOrEqual(1);
  });

  it('internal: agent to agent, both legs ring, direction internal', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const agent2 = answer('agent2', PORTS.FREESWITCH_AGENT2_PORT);
    expect(await dial('agent1', 'Agent One', 6220, '101').done).toBe(0);
    await agent2.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent2'), 'the internal call');
    const byLeg = (ep: string) => evs.filter((e) => e.context === 'LOCAL_USER' && e.endpoint === ep).map((e) => e.event_name);
    expect(byLeg('sofia/internal/agent1')).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(byLeg('sofia/internal/agent2')).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup']);
    expect(evs.filter((e) => e.call_id).every((e) => e.direction === 'internal')).toBe(true);
  });

  it('queue: the caller waits in mod_callcenter, an agent answers', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    await queueCall(6230, 6000);
    const evs = await ch.call((e) => e.some((x) => x.context === 'QUEUE'), 'the queue call');
    const queue = evs.filter((e) => e.context === 'QUEUE');
    expect(queue.map((e) => `${e.event_name} ${e.state}`)).toEqual(['call.initial INITIAL', 'call.ringing RINGING', 'call.connected CONNECTED', 'call.hangup HANGUP']);
    expect(queue[0].queue?.name).toBe('support');
    expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
    expect(reporting(evs).answered_by).toMatch(/^sofia\/internal\/agent[12]$/);
  });

  it('event_format plain (the default, which decodes only the headers the translator reads) gives the same webhooks as json', async () => {
    const plainCh = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const ch = await startCallhook((port) => `${pbxYaml(port)}    event_format: json\n`, PORTS.FREESWITCH_ESL_PORT);
    try {
      await queueCall(6235, 3000);
      const json = await ch.call((e) => e.some((x) => x.context === 'QUEUE'), 'the queue call, event json');
      const plain = await plainCh.call((e) => e[0].call_id === json[0].call_id, 'the queue call, event plain');
      expect(plain.map((e) => e.event_name)).toContain('call.reporting');
      expect(plain).toEqual(json);
      // and each daemon got the format it asked for, from FreeSWITCH itself
      const seen = (c: Callhook) => {
        const file = join(mkdtempSync(join(tmpdir(), 'fmt-')), 'seen.esl');
        c.proxy.save(file);
        return readFileSync(file, 'latin1');
      };
      expect(seen(plainCh)).toContain('Content-Type: text/event-plain\n');
      expect(seen(plainCh)).not.toContain('Content-Type: text/event-json\n');
      expect(seen(ch)).toContain('Content-Type: text/event-json\n');
    } finally {
      await ch.stop();
    }
  });

  it('a recorded call: recording_url is the template filled in with the file record_session writes, only on that call', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT, `calls:
  recording_url: "https://pbx.example.com/rec/{{recording_file}}"
`));
    const agent = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    expect(await dial('15551230001', 'Alice', 6250, '500', 2000).done).toBe(0);
    await agent.done;
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent1'), 'the recorded call');
    const hangup = evs.find((e) => e.event_name === 'call.hangup')!;
    expect(hangup.recording_url).toBe(`https://pbx.example.com/rec/in-${evs[0].call_id}.wav`);
    const a = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    expect(await dial('15551230001', 'Alice', 6251, '100').done).toBe(0);
    await a.done;
    const plain = await ch.call((e) => e[0].call_id !== evs[0].call_id && e.some((x) => x.endpoint === 'sofia/internal/agent1'), 'the plain call');
    expect(plain.every((e) => e.recording_url === null)).toBe(true);
  });

  it('hold by the caller', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    expect(await dial('15551230001', 'Alice', 6240, '100', 1000, 'uac_hold.xml').done).toBe(0);
    await a1.done;
    const evs = await ch.call((e) => e.some((x) => x.event_name === 'call.hold'), 'the held call');
    expect(evs.filter((e) => e.event_name === 'call.hold' || e.event_name === 'call.unhold').map((e) => `${e.event_name} ${e.hold?.by ?? '-'}`))
      .toEqual(['call.hold remote', 'call.unhold remote']);
  });
  it('ring group through loopback channels: one call, the real endpoints, no helper legs, the loser not missed', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    const a2 = sipp(['-sf', join(SIPP_FS, 'uas_ring_no_answer.xml'), '-p', String(PORTS.FREESWITCH_AGENT2_PORT), '-s', 'agent2']);
    expect(await dial('15551230001', 'Alice', 6260, '400', 1500).done).toBe(0);
    await a1.done;
    a2.kill();
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent1'), 'the ring group call');
    if (process.env.LIVE_DEBUG) console.log(ch.events().map((e) => `${e.call_id} ${e.sequence} ${shape(e)} ${e.direction}`).join('\n'));
    expect(new Set(ch.events().map((e) => e.call_id)).size).toBe(1);
    expect(evs.some((e) => /^loopback\//.test(e.endpoint ?? ''))).toBe(false);
    expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
    expect(evs.filter((e) => e.call_id).every((e) => e.direction === 'in')).toBe(true);
    const r = reporting(evs);
    expect(r.answered_by).toBe('sofia/internal/agent1');
    expect(r.legs.map((l) => l.endpoint).sort()).toEqual(['sofia/internal/15551230001', 'sofia/internal/agent1', 'sofia/internal/agent2']);
  });
  it('queue wrap-up: START when the queue call of the agent ends (bridge-agent-end), TIMEOUT after the wrap-up time', async () => {
    const ch = live.use(await startCallhook((port) => `${pbxYaml(port)}    wrapup_time: 1s\n`, PORTS.FREESWITCH_ESL_PORT));
    const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    const a2 = answer('agent2', PORTS.FREESWITCH_AGENT2_PORT);
    expect(await dial('15551230002', 'Bob', 6270, '200', 4000).done).toBe(0);
    await Promise.race([a1.done, a2.done]);
    a1.kill();
    a2.kill();
    const call = await ch.call((e) => e.some((x) => x.context === 'QUEUE'), 'the queue call');
    await until(() => ch.events().some((e) => e.wrapup?.state === 'TIMEOUT'), 30_000, 'queue.wrapup TIMEOUT');
    const wrap = ch.events().filter((e) => e.event_name === 'queue.wrapup');
    const agent = reporting(call).answered_by!.replace('sofia/internal/', '');
    expect(wrap.map((e) => `${e.wrapup?.state} ${e.agent?.member} ${e.wrapup?.seconds} ${e.queue?.name}`)).toEqual([`START ${agent} 1 support`, `TIMEOUT ${agent} 1 support`]);
    expect(wrap[0].wrapup?.call_id).toBe(call[0].call_id);
    expect(Date.parse(wrap[1].event_time) - Date.parse(wrap[0].event_time)).toBe(1000);
  });
  it('blind transfer: the caller REFERs agent1 to 101; the call keeps its id, says who transferred whom where, and agent2 takes over', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    const a2 = sipp(['-sf', join(SIPP_FS, 'uas_answer_then_bye.xml'), '-p', String(PORTS.FREESWITCH_AGENT2_PORT), '-s', 'agent2', '-d', '2000']);
    const uac = await sipp([sip(), '-sf', join(SIPP_AST, 'uac_refer.xml'), '-s', '100', '-p', '6280', '-key', 'from_user', '15551230001', '-key', 'refer_to', '101', '-d', '1500']).done;
    await Promise.all([a1.done, a2.done]);
    if (process.env.LIVE_DEBUG) console.log('uac', uac, ch.events().map((e) => `${e.call_id} ${e.sequence} ${shape(e)} ${e.direction} ${e.signal.event}`).join('\n'));
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent2'), 'the transferred call');
    if (process.env.LIVE_DEBUG) console.log(ch.events().map((e) => `${e.call_id} ${e.sequence} ${shape(e)} ${e.direction} ${e.signal.event}`).join('\n'));
    const t = evs.find((e) => e.event_name === 'call.transferred')!;
    expect(t.transfer).toMatchObject({ kind: 'blind', by_endpoint: 'sofia/internal/15551230001', to: '101' });
    expect(evs.filter((e) => e.context === 'LOCAL_USER' && e.event_name === 'call.connected').map((e) => e.endpoint)).toEqual(['sofia/internal/agent1', 'sofia/internal/agent2']);
    expect(new Set(ch.events().map((e) => e.call_id)).size).toBe(1);
  });
  it('uuid_transfer by an operator panel: the customer is sent from agent1 to 101; one call, call.transferred by agent1', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    const a2 = sipp(['-sf', join(SIPP_FS, 'uas_answer_then_bye.xml'), '-p', String(PORTS.FREESWITCH_AGENT2_PORT), '-s', 'agent2', '-d', '1500']);
    const caller = dial('15551230001', 'Alice', 6290, '100', 20_000, 'uac_wait_bye.xml');
    await until(() => ch.events().some((e) => e.event_name === 'call.connected' && e.endpoint === 'sofia/internal/agent1'), 30_000, 'agent1 connected');
    const customer = ch.events()[0].call_id!; // the caller's leg id is the call id on FreeSWITCH
    execFileSync(join(live.pbx().dir, 'bin/fs_cli'), ['-H', '127.0.0.1', '-P', String(PORTS.FREESWITCH_ESL_PORT), '-p', PORTS.FREESWITCH_ESL_PASSWORD, '-x', `uuid_transfer ${customer} 101`]);
    await Promise.all([a1.done, a2.done, caller.done]);
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent2'), 'the transferred call');
    expect(new Set(ch.events().map((e) => e.call_id)).size).toBe(1);
    const t = evs.filter((e) => e.event_name === 'call.transferred');
    expect(t.map((e) => e.transfer)).toMatchObject([{ kind: 'blind', by_endpoint: 'sofia/internal/agent1', to: '101' }]);
    expect(evs.filter((e) => e.context === 'LOCAL_USER' && e.event_name === 'call.connected').map((e) => e.endpoint)).toEqual(['sofia/internal/agent1', 'sofia/internal/agent2']);
  });
  it('attended transfer from a desk phone: agent1 consults agent2, then REFERs the customer with Replaces; the customer\'s call id follows the customer', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const phone = await Phone.start('agent1', PORTS.FREESWITCH_AGENT1_PORT, PORTS.FREESWITCH_SIP_PORT);
    try {
      const a2 = answer('agent2', PORTS.FREESWITCH_AGENT2_PORT);
      const customer = dial('15551230001', 'Alice', 6295, '100', 6000);
      const withCustomer = await phone.answered();
      const consult = await phone.call('101');
      await phone.attendedTransfer(withCustomer, consult, '101');
      await customer.done;
      await a2.done;
    } finally {
      phone.close();
    }
    await until(() => ch.events().filter((e) => e.event_name === 'call.reporting').length >= 2, 30_000, 'both reports');
    if (process.env.LIVE_DEBUG) console.log(ch.events().map((e) => `${e.call_id} ${e.sequence} ${shape(e)} ${e.direction} ${e.signal.event} ${e.transfer ? JSON.stringify(e.transfer) : ''}`).join('\n'));
    attendedTransferSeen(ch.events(), 'sofia/internal/agent1', 'sofia/internal/agent2');
  });
  it("names come through as the caller set them: Seán O'Brien", async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const agent = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    expect(await dial('15551230003', "Seán O'Brien", 6299, '100').done).toBe(0);
    await agent.done;
    const evs = await ch.call((e) => e.some((x) => x.src === '15551230003'), 'the call');
    for (const e of evs.filter((x) => x.call_id)) expect(e.src_name).toBe("Seán O'Brien");
  });
  it('attended transfer completed with uuid_bridge (an operator panel): the consult joins the customer\'s call', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const phone = await Phone.start('agent1', PORTS.FREESWITCH_AGENT1_PORT, PORTS.FREESWITCH_SIP_PORT);
    const a2 = answer('agent2', PORTS.FREESWITCH_AGENT2_PORT);
    const customer = dial('15551230001', 'Alice', 6296, '100', 6000);
    try {
      const withCustomer = await phone.answered();
      const consult = await phone.call('101');
      await until(() => ch.events().some((e) => e.event_name === 'call.connected' && e.endpoint === 'sofia/internal/agent2'), 30_000, 'agent2 connected');
      const customerLeg = ch.events().find((e) => e.endpoint === 'sofia/internal/agent1')!.call_id!;
      const agent2Leg = ch.events().find((e) => e.endpoint === 'sofia/internal/agent2')!.leg_id!;
      execFileSync(join(live.pbx().dir, 'bin/fs_cli'), ['-H', '127.0.0.1', '-P', String(PORTS.FREESWITCH_ESL_PORT), '-p', PORTS.FREESWITCH_ESL_PASSWORD, '-x', `uuid_bridge ${customerLeg} ${agent2Leg}`]);
      // FreeSWITCH hangs up agent1's two legs; the phone answers the BYEs
      await until(() => withCustomer.ended && consult.ended, 20_000, "agent1's legs hung up");
      await customer.done;
      await a2.done;
    } finally {
      phone.close();
      a2.kill();
      customer.kill();
    }
    await until(() => ch.events().filter((e) => e.event_name === 'call.reporting').length >= 2, 30_000, 'both reports');
    attendedTransferSeen(ch.events(), 'sofia/internal/agent1', 'sofia/internal/agent2');
  });

  it('FreeSWITCH killed mid-call: after it is back, the call is closed with reconciled hangups, ended when the connection was lost', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    const a1 = answer('agent1', PORTS.FREESWITCH_AGENT1_PORT);
    const caller = dial('15551230001', 'Alice', 6298, '100', 30_000);
    await until(() => ch.events().some((e) => e.event_name === 'call.connected' && e.endpoint === 'sofia/internal/agent1'), 30_000, 'agent1 connected');
    const killedAt = Date.now();
    live.crash();
    a1.kill();
    caller.kill();
    await ch.daemon.waitForLog((l) => /ESL connection to fs1 lost/.test(String(l.msg)), 30_000);
    live.start();
    const evs = await ch.call((e) => e.some((x) => x.endpoint === 'sofia/internal/agent1'), 'the interrupted call', 90_000);
    const hangup = evs.find((e) => e.event_name === 'call.hangup' && e.endpoint === 'sofia/internal/agent1')!;
    expect(hangup.signal.reconciled).toBe(true);
    expect(hangup).toMatchObject({ hangup_cause: null, sip_status: null });
    // ended when callhook lost FreeSWITCH, not when it was back
    expect(Math.abs(Date.parse(hangup.ended_at!) - killedAt)).toBeLessThan(1500);
    expect(evs.find((e) => e.event_name === 'call.reporting')!.reporting!.end_at).toBe(hangup.ended_at);
  });

  it('daemon killed three times with calls up; calls end while it is down and while it is up: every leg one call.hangup, every call one call.reporting', async () => {
    const ch = live.use(await startCallhook(pbxYaml, PORTS.FREESWITCH_ESL_PORT));
    // calls that stay up until the PBX ends them (both phones wait for its BYE)
    const long = (caller: string, port: number, exten: string) =>
      sipp([sip(), '-sf', join(SIPP_FS, 'uac_wait_bye.xml'), '-s', exten, '-p', String(port), '-key', 'caller', caller, '-key', 'caller_name', 'Long Call'], 150);
    const phone = (user: string, port: number) => sipp(['-sf', join(SIPP_FS, 'uas_answer_wait_bye.xml'), '-p', String(port), '-s', user, '-d', '500'], 150);
    const connectedLegs = (ep: string) => ch.events().filter((e) => e.event_name === 'call.connected' && e.endpoint === ep).map((e) => e.leg_id!);
    const connected = async (ep: string, n: number) => {
      await until(() => new Set(connectedLegs(ep)).size >= n, 30_000, `${ep} connected (${n})`);
      return connectedLegs(ep).at(-1)!;
    };
    const reports = (n: number) => until(() => new Set(ch.events().filter((e) => e.event_name === 'call.reporting').map((e) => e.id)).size >= n, 60_000, `${n} call.reporting`);
    const hangup = (uuid: string) =>
      execFileSync(join(live.pbx().dir, 'bin/fs_cli'), ['-H', '127.0.0.1', '-P', String(PORTS.FREESWITCH_ESL_PORT), '-p', PORTS.FREESWITCH_ESL_PASSWORD, '-x', `uuid_kill ${uuid}`]);
    const procs = [];
    try {
      // A: a customer -> agent1, B: another -> agent2, both up
      const a1 = phone('agent1', PORTS.FREESWITCH_AGENT1_PORT);
      const a2 = phone('agent2', PORTS.FREESWITCH_AGENT2_PORT);
      procs.push(a1, a2, long('15551230001', 6300, '100'));
      const legA = await connected('sofia/internal/agent1', 1);
      procs.push(long('15551230002', 6301, '101'));
      const legB = await connected('sofia/internal/agent2', 1);

      // kill 1; B ends while callhook is down
      await ch.crash();
      hangup(legB);
      await a2.done;
      await ch.restart();
      await reports(1);

      // C: a third customer -> agent2, up; kill 2; A ends while callhook is down
      const c2 = phone('agent2', PORTS.FREESWITCH_AGENT2_PORT);
      procs.push(c2, long('15551230003', 6302, '101'));
      const legC = await connected('sofia/internal/agent2', 2);
      await ch.crash();
      hangup(legA);
      await a1.done;
      await ch.restart();
      await reports(2);

      // kill 3 with C up throughout; C ends while callhook is up
      await ch.crash();
      await ch.restart();
      hangup(legC);
      await c2.done;
      await reports(3);
    } finally {
      for (const p of procs) p.kill();
    }
    crashedCallsSeen(ch.events(), 'sofia/internal/agent1', 'sofia/internal/agent2');
  });
});
