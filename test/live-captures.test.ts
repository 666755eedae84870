/**
 * The live suite's flows as fixtures: test/fixtures/{asterisk,freeswitch}/live/ hold the exact
 * bytes callhook read from a real Asterisk / FreeSWITCH during the live suite's real SIP
 * calls (recorded by its proxy: LIVE_RECORD=DIR npm run test:live). One scenario table per
 * PBX, with the expected events written by hand from the call flow, run through `simulate`
 * (the daemon's own framer, translator, tracker and recording template).
 */
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import type { PbxType } from '../src/calls/signals.js';
import { simulate } from '../src/simulate.js';
import { configFrom } from './helpers/config.js';
import { attendedTransferSeen, shape } from './helpers/flows.js';

interface Scenario {
  name: string;
  /** `event context state endpoint` of the LOCAL_USER and QUEUE events, in order */
  legs: string[];
  /** every call event's direction (null: the check says, per call) */
  direction: 'in' | 'out' | 'internal' | null;
  /** calls in the capture (default 1) */
  calls?: number;
  check?: (evs: CallEvent[]) => void;
}

const seq = (prefix: string, ep: string, states = ['initial INITIAL', 'ringing RINGING', 'connected CONNECTED', 'hangup HANGUP']) =>
  states.map((s) => `call.${s.split(' ')[0]} ${prefix} ${s.split(' ')[1]} ${ep}`);
/** both PBXes: the caller leaves the queue when an agent is connected, while the legs talk on */
function stayEndsAtConnect(evs: CallEvent[]): void {
  const at = (name: string, ctx: string) => Date.parse(evs.find((e) => e.event_name === name && e.context === ctx)!.event_time);
  expect(at('call.hangup', 'QUEUE') - at('call.connected', 'QUEUE')).toBeLessThan(1000);
  expect(at('call.hangup', 'QUEUE')).toBeLessThan(Math.max(...evs.filter((e) => e.event_name === 'call.hangup' && e.context === 'LOCAL_USER').map((e) => Date.parse(e.event_time))));
}

/**
 * both PBXes: a queue call, then the answering agent's wrap-up (pbx[].wrapup_time as the
 * PBX's: Asterisk wrapuptime=2, FreeSWITCH wrap-up-time=1): START when the agent's queue call
 * ended, TIMEOUT when the time ran out, numbered per agent
 */
function wrapupScenario(member: (answeredBy: string) => string, seconds: number): Scenario {
  return {
    name: 'queue-wrapup',
    legs: [],
    direction: 'in',
    check: (evs) => {
      const agent = member(report(evs).answered_by!);
      const wrap = evs.filter((e) => e.event_name === 'queue.wrapup');
      expect(wrap.map((e) => `${e.wrapup?.state} ${e.agent?.member} ${e.wrapup?.seconds} ${e.queue?.name} ${e.sequence}`))
        .toEqual([`START ${agent} ${seconds} support 1`, `TIMEOUT ${agent} ${seconds} support 2`]);
      expect(wrap.every((e) => e.context === 'AGENT' && e.call_id === null && e.wrapup?.call_id === evs[0].call_id)).toBe(true);
      expect(Date.parse(wrap[1].event_time) - Date.parse(wrap[0].event_time)).toBe(seconds * 1000);
      expect(wrap[1].duration).toBe(seconds);
      const agentEnd = evs.filter((e) => e.event_name === 'call.hangup' && e.context === 'LOCAL_USER' && e.connected_at !== null);
      expect(Math.abs(Date.parse(wrap[0].event_time) - Date.parse(agentEnd[0].event_time))).toBeLessThan(1000);
    },
  };
}

/** both PBXes: a caller named Seán O'Brien (AMI escapes the apostrophe; FreeSWITCH's JSON does not) */
function nameScenario(agent: string): Scenario {
  return {
    name: 'escaped-name',
    legs: seq('LOCAL_USER', agent),
    direction: 'in',
    check: (evs) => {
      for (const e of evs.filter((x) => x.call_id)) expect(e.src_name).toBe("Seán O'Brien");
    },
  };
}

/** a recorded call, then a plain one: the template gets the recording's file name, on the recorded call only */
function recordedScenario(agent: string): Scenario {
  return {
    name: 'recorded',
    calls: 2,
    legs: [...seq('LOCAL_USER', agent), ...seq('LOCAL_USER', agent)],
    direction: 'in',
    check: (evs) => {
      const [first, second] = [...new Set(evs.map((e) => e.call_id))];
      for (const e of evs.filter((x) => x.call_id === first && (x.event_name === 'call.hangup' || x.event_name === 'call.reporting'))) {
        expect(e.recording_url).toBe(`https://pbx.example.com/rec/in-${first}.wav`);
      }
      expect(evs.filter((x) => x.call_id === second).every((e) => e.recording_url === null)).toBe(true);
    },
  };
}

const report = (evs: CallEvent[]) => evs.find((e) => e.event_name === 'call.reporting')!.reporting!;

/** both PBXes: a ring group through helper channels (Local/, loopback/) is one call of real endpoints */
const ringGroupCheck = (winner: string, legs: string[]) => (evs: CallEvent[]) => {
  expect(evs.some((e) => /^(Local|loopback)\//.test(e.endpoint ?? ''))).toBe(false);
  expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
  expect(report(evs).answered_by).toBe(winner);
  expect(report(evs).legs.map((l) => `${l.endpoint} ${l.outcome}`)).toEqual(legs);
};

const ASTERISK: Scenario[] = [
  { name: 'inbound', legs: seq('LOCAL_USER', 'PJSIP/agent1'), direction: 'in', check: (evs) => expect(report(evs).answered_by).toBe('PJSIP/agent1') },
  {
    // agent1 dials 915557654321; the dialplan strips the 9; the carrier leg rings 1.5 s
    name: 'outbound-prefix',
    legs: seq('LOCAL_USER', 'PJSIP/agent1'),
    direction: 'out',
    check: (evs) => {
      for (const e of evs.filter((x) => x.call_id)) expect(e.dst).toBe('15557654321');
      expect(report(evs).ring_duration).toBeGreaterThanOrEqual(1);
      expect(report(evs).type).toBe('direct');
    },
  },
  {
    name: 'internal',
    legs: [
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent2',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
    ],
    direction: 'internal',
  },
  {
    // Dial(Local/agent1@ringgroup&Local/agent2@ringgroup): four Local helpers, two phones
    name: 'ring-group-local',
    legs: [
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
    ],
    direction: 'in',
    check: ringGroupCheck('PJSIP/agent1', ['PJSIP/caller caller', 'PJSIP/agent1 answered', 'PJSIP/agent2 answered_elsewhere']),
  },
  // 500 (MixMonitor(in-${UNIQUEID}.wav), then agent1), then 100 (not recorded)
  recordedScenario('PJSIP/agent1'),
  nameScenario('PJSIP/agent1'),
  {
    // ring-all queue: agent2 rings and loses the race to agent1; the caller waited in QUEUE
    name: 'queue',
    legs: [
      'call.initial QUEUE INITIAL -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent2',
      'call.ringing QUEUE RINGING -',
      'call.initial LOCAL_USER INITIAL PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent1',
      'call.ringing LOCAL_USER RINGING PJSIP/agent2',
      'call.connected LOCAL_USER CONNECTED PJSIP/agent1',
      'call.connected QUEUE CONNECTED PJSIP/agent1',
      'call.hangup QUEUE HANGUP PJSIP/agent1',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
      'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
    ],
    direction: 'in',
    check: (evs) => {
      expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
      expect(evs.find((e) => e.context === 'QUEUE')!.queue).toMatchObject({ name: 'support', position: 1 });
      stayEndsAtConnect(evs);
    },
  },
];

ASTERISK.push(wrapupScenario((a) => a, 2));
/**
 * both PBXes: the caller (uac_refer.xml) REFERs agent1 to 101: agent1 is handed to agent2 in
 * the same call, and call.transferred says so between agent1's answer and agent2's first event
 */
function blindTransferScenario(caller: string, agent: (n: 1 | 2) => string, pbxEvent: string, hangups: Array<1 | 2>): Scenario {
  return {
    name: 'blind-transfer',
    legs: [
      ...seq('LOCAL_USER', agent(1)).slice(0, 3),
      ...seq('LOCAL_USER', agent(2)).slice(0, 3),
      ...hangups.map((n) => `call.hangup LOCAL_USER HANGUP ${agent(n)}`),
    ],
    direction: 'in',
    check: (evs) => {
      const t = evs.filter((e) => e.event_name === 'call.transferred');
      expect(t).toHaveLength(1);
      expect(t[0]).toMatchObject({ context: 'CALL', endpoint: caller, signal: { event: pbxEvent } });
      expect(t[0].transfer).toMatchObject({ kind: 'blind', by_endpoint: caller, to: '101' });
      const names = evs.map((e) => `${e.event_name} ${e.endpoint}`);
      expect(names.indexOf(`call.transferred ${caller}`)).toBeGreaterThan(names.indexOf(`call.connected ${agent(1)}`));
      expect(names.indexOf(`call.transferred ${caller}`)).toBeLessThan(names.indexOf(`call.initial ${agent(2)}`));
    },
  };
}
ASTERISK.push({
  // agent1's desk phone (test/live/phone.ts) answers the customer, calls 101 (agent2), then
  // REFERs the customer to agent2 with Replaces for the consult call
  name: 'attended-transfer',
  calls: 2,
  legs: [],
  direction: null,
  check: (evs) => attendedTransferSeen(evs, 'PJSIP/agent1', 'PJSIP/agent2'),
});
ASTERISK.push({
  // the same, where the REFER came before Asterisk had bridged the consult (agent1's second
  // channel still in Dial): AttendedTransfer names no target and no second bridge
  // (DestType: App); the target is the party reached in the consult call
  name: 'attended-transfer-no-target',
  calls: 2,
  legs: [],
  direction: null,
  check: (evs) => attendedTransferSeen(evs, 'PJSIP/agent1', 'PJSIP/agent2'),
});
/** Atxfer's flow; `name` is the capture */
const atxferScenario = (name: string): Scenario => ({
  // an operator panel: AMI Atxfer on agent1's channel to 101 (Asterisk queues *2101 on it as
  // DTMF with no duration, puts the customer on hold, consults through Local/101), then AMI
  // Hangup of agent1 completes it; one call throughout
  name,
  legs: [
    ...seq('LOCAL_USER', 'PJSIP/agent1', ['initial INITIAL', 'ringing RINGING', 'connected CONNECTED', 'hold ON_HOLD']),
    ...seq('LOCAL_USER', 'PJSIP/agent2').slice(0, 3),
    'call.hangup LOCAL_USER HANGUP PJSIP/agent1',
    'call.hangup LOCAL_USER HANGUP PJSIP/agent2',
  ],
  direction: 'in',
  check: (evs) => {
    expect(evs.filter((e) => e.event_name === 'call.dtmf')).toEqual([]);
    expect(evs.filter((e) => e.transfer).map((e) => e.transfer)).toMatchObject([{ kind: 'attended', by_endpoint: 'PJSIP/agent1', to: 'PJSIP/agent2' }]);
    expect(report(evs).segments.map((g) => `${g.endpoint} ${g.talk_duration}`)).toEqual(['PJSIP/agent1 2', 'PJSIP/agent2 6']);
  },
});
ASTERISK.push(atxferScenario('atxfer'));
// the same, where Asterisk's AttendedTransfer names no target (it varies run to run)
ASTERISK.push(atxferScenario('atxfer-no-target'));
ASTERISK.push(blindTransferScenario('PJSIP/caller', (n) => `PJSIP/agent${n}`, 'BlindTransfer', [2, 1]));

const FREESWITCH: Scenario[] = [
  { name: 'inbound', legs: seq('LOCAL_USER', 'sofia/internal/agent1'), direction: 'in', check: (evs) => expect(report(evs).answered_by).toBe('sofia/internal/agent1') },
  {
    name: 'outbound-prefix',
    legs: seq('LOCAL_USER', 'sofia/internal/agent1'),
    direction: 'out',
    check: (evs) => {
      for (const e of evs.filter((x) => x.call_id)) expect(e.dst).toBe('15557654321');
      expect(report(evs).ring_duration).toBeGreaterThanOrEqual(1);
    },
  },
  {
    name: 'internal',
    legs: [
      'call.initial LOCAL_USER INITIAL sofia/internal/agent1',
      'call.initial LOCAL_USER INITIAL sofia/internal/agent2',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent2',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent1',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent2',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent1',
      // agent1 (the caller) sends BYE; FreeSWITCH reports the bridged leg's hangup first
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent2',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent1',
    ],
    direction: 'internal',
  },
  {
    name: 'queue',
    legs: [],
    direction: 'in',
    check: (evs) => {
      expect(evs.filter((e) => e.context === 'QUEUE').map((e) => `${e.event_name} ${e.state}`))
        .toEqual(['call.initial INITIAL', 'call.ringing RINGING', 'call.connected CONNECTED', 'call.hangup HANGUP']);
      expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
      stayEndsAtConnect(evs);
    },
  },
  wrapupScenario((a) => a.replace('sofia/internal/', ''), 1),
  nameScenario('sofia/internal/agent1'),
  {
    // kill -9 of FreeSWITCH while agent1 talks, then a fresh FreeSWITCH: callhook reconnects,
    // show channels has nothing, and the call is closed as of when the connection was lost
    name: 'pbx-crash',
    legs: seq('LOCAL_USER', 'sofia/internal/agent1'),
    direction: 'in',
    check: (evs) => {
      const hangup = evs.find((e) => e.event_name === 'call.hangup')!;
      expect(hangup).toMatchObject({ signal: { reconciled: true, event: 'resync' }, hangup_cause: null, sip_status: null });
      expect(hangup.talk_duration).toBeLessThan(2);
    },
  },
  // FreeSWITCH marks the transferred leg (agent1) with Caller-Transfer-Source ...:bl_xfer:101/
  blindTransferScenario('sofia/internal/15551230001', (n) => `sofia/internal/agent${n}`, 'CHANNEL_CALLSTATE', [2, 1]),
  {
    // agent1's desk phone: consult call to 101, then REFER with Replaces; FreeSWITCH ends it
    // by bridging the customer to agent2 (Caller-Transfer-Source ...:uuid_br:<agent2's leg>)
    name: 'attended-transfer',
    calls: 2,
    legs: [],
    direction: null,
    check: (evs) => attendedTransferSeen(evs, 'sofia/internal/agent1', 'sofia/internal/agent2'),
  },
  {
    // agent1 (test/live/phone.ts) talks to the customer and calls 101; an operator panel runs
    // uuid_bridge <customer> <agent2's leg>; FreeSWITCH hangs up agent1's two legs
    name: 'uuid-bridge',
    calls: 2,
    legs: [],
    direction: null,
    check: (evs) => attendedTransferSeen(evs, 'sofia/internal/agent1', 'sofia/internal/agent2'),
  },
  {
    // fs_cli uuid_transfer <customer> 101 while agent1 talks to them (an operator panel's
    // transfer): agent1 is hung up, the customer's leg runs 101 and agent2 answers; the
    // customer's leg reports the transfer after agent1's hangup
    name: 'uuid-transfer',
    legs: [
      ...seq('LOCAL_USER', 'sofia/internal/agent1'),
      ...seq('LOCAL_USER', 'sofia/internal/agent2'),
    ],
    direction: 'in',
    check: (evs) => {
      expect(evs.filter((e) => e.event_name === 'call.transferred').map((e) => e.transfer))
        .toMatchObject([{ kind: 'blind', by_endpoint: 'sofia/internal/agent1', to: '101', transferee_leg: evs[0].call_id }]);
    },
  },
  // 500 (record_session $${recordings_dir}/in-${uuid}.wav, then agent1), then 100 (not recorded)
  recordedScenario('sofia/internal/agent1'),
  {
    // bridge loopback/rg-agent1/ringgroup,loopback/rg-agent2/ringgroup: each B leg is a new
    // inbound call in FreeSWITCH; agent1 answers, agent2 (ringing) loses
    name: 'ring-group-loopback',
    legs: [
      'call.initial LOCAL_USER INITIAL sofia/internal/agent2',
      'call.initial LOCAL_USER INITIAL sofia/internal/agent1',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent2',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent1',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent1',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent2',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent1',
    ],
    direction: 'in',
    check: ringGroupCheck('sofia/internal/agent1', ['sofia/internal/15551230001 caller', 'sofia/internal/agent2 answered_elsewhere', 'sofia/internal/agent1 answered']),
  },
  {
    name: 'hold',
    legs: seq('LOCAL_USER', 'sofia/internal/agent1', ['initial INITIAL', 'ringing RINGING', 'connected CONNECTED', 'hold ON_HOLD', 'unhold CONNECTED', 'hangup HANGUP']),
    direction: 'in',
  },
];

const CONFIG: Record<PbxType, string> = {
  asterisk: `
pbx:
  - {name: pbx1, type: asterisk, username: callhook, secret: x, trunks: ["PJSIP/caller*", "PJSIP/external*"], wrapup_time: 2s}
calls:
  recording_variable: MIXMONITOR_FILENAME
  recording_url: "https://pbx.example.com/rec/{{recording_file}}"
`,
  freeswitch: `
pbx:
  - {name: fs1, type: freeswitch, secret: x, trunks: ["sofia/internal/1555*"], wrapup_time: 1s}
calls:
  recording_url: "https://pbx.example.com/rec/{{recording_file}}"
`,
};

describe.each([
  ['asterisk', ASTERISK, 'ami'],
  ['freeswitch', FREESWITCH, 'esl'],
] as const)('%s live captures through simulate', (type, scenarios, ext) => {
  const config = configFrom(CONFIG[type]);
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (name, s) => {
    const evs = await simulate(type, `test/fixtures/${type}/live/${name}.${ext}`, config);
    expect(new Set(evs.map((e) => e.call_id).filter(Boolean)).size).toBe(s.calls ?? 1);
    if (s.legs.length) expect(evs.filter((e) => e.context === 'LOCAL_USER' || e.context === 'QUEUE').map(shape)).toEqual(s.legs);
    if (s.direction) for (const e of evs.filter((x) => x.call_id)) expect(e.direction, `${e.event_name} ${e.endpoint}`).toBe(s.direction);
    // every leg that began ends once, and the call reports once
    const began = evs.filter((e) => e.event_name === 'call.initial').map((e) => `${e.context} ${e.leg_id}`);
    const ended = evs.filter((e) => e.event_name === 'call.hangup').map((e) => `${e.context} ${e.leg_id}`);
    expect(ended.sort()).toEqual(began.sort());
    expect(evs.filter((e) => e.event_name === 'call.reporting')).toHaveLength(s.calls ?? 1);
    for (const id of new Set(evs.map((e) => e.call_id))) {
      const mine = evs.filter((e) => e.call_id === id);
      expect(mine.map((e) => e.sequence)).toEqual(mine.map((_, i) => i + 1));
    }
    s.check?.(evs);
  });
});

describe('asterisk live capture hold-dtmf (two calls)', () => {
  it('hold and unhold by the caller, then its SIP INFO digits', async () => {
    const evs = await simulate('asterisk', 'test/fixtures/asterisk/live/hold-dtmf.ami', configFrom(CONFIG.asterisk));
    expect(evs.filter((e) => e.event_name === 'call.hold' || e.event_name === 'call.unhold').map((e) => `${e.event_name} ${e.endpoint} ${e.hold?.by}`))
      .toEqual(['call.hold PJSIP/agent1 remote', 'call.unhold PJSIP/agent1 remote']);
    expect(evs.filter((e) => e.event_name === 'call.dtmf').map((e) => `${e.dtmf?.digit} ${e.dtmf?.pressed_by}`)).toEqual(['1 caller', '2 caller', '# caller']);
    expect(evs.filter((e) => e.event_name === 'call.reporting')).toHaveLength(2);
  });
});
