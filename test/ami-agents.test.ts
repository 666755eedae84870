/**
 * Queue member state changes -> agent.* events. No capture holds these (the lab's members
 * were static), so the frames here follow the fields of the captures' QueueMemberStatus,
 * which QueueMemberAdded / Removed / Pause share in Asterisk's AMI documentation.
 */
import { describe, expect, it } from 'vitest';
import { CallTracker, ROUTING_WAIT_MS } from '../src/calls/tracker.js';
import { callKeyOf } from '../src/hooks/router.js';
import { createDecoder } from '../src/pbx/capture.js';

const member = (event: string, extra = '') =>
  `Event: ${event}\r\nPrivilege: agent,all\r\nQueue: support\r\nMemberName: Agent One\r\nInterface: PJSIP/agent1\r\n` +
  `StateInterface: PJSIP/agent1\r\nMembership: dynamic\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nStatus: 1\r\n${extra}\r\n`;

describe('timestamps', () => {
  it('come from the Timestamp: header when the PBX sends it (timestampevents=yes), else the receive time', async () => {
    const decoder = await createDecoder('asterisk');
    const tracker = new CallTracker({ pbx: { name: 'pbx1', type: 'asterisk' }, source: 'ami' });
    const frame = (ts: string) =>
      `Event: Newchannel\r\nPrivilege: call,all\r\n${ts}Channel: PJSIP/agent1-00000001\r\nChannelState: 0\r\nCallerIDNum: 2001\r\n` +
      `CallerIDName: Agent One\r\nContext: from-agent\r\nExten: 100\r\nUniqueid: 1795268179.${ts ? 1 : 2}\r\nLinkedid: 1795268179.${ts ? 1 : 2}\r\n\r\n`;
    const received = Date.parse('2026-11-21T12:00:00Z');
    const ev = decoder.push(Buffer.from(frame('Timestamp: 1795268179.319000\r\n') + frame('')), received).flatMap((s) => tracker.apply(s));
    // two lone legs: their call.initial waits for routing, at most ROUTING_WAIT_MS on the daemon's clock
    expect(ev).toEqual([]);
    ev.push(...tracker.apply({ kind: 'tick', time: 0, pbxEvent: 'tick' }), ...tracker.apply({ kind: 'tick', time: ROUTING_WAIT_MS, pbxEvent: 'tick' }));
    expect(ev.map((e) => e.event_time)).toEqual([new Date(1795268179319).toISOString(), new Date(received).toISOString()]);
  });
});

describe('agent events from AMI', () => {
  it('login, pause with reason, unpause, logout', async () => {
    const decoder = await createDecoder('asterisk');
    const tracker = new CallTracker({ pbx: { name: 'pbx1', type: 'asterisk' }, source: 'ami' });
    const bytes = Buffer.from(
      'Asterisk Call Manager/13.0.0\r\n' +
        member('QueueMemberAdded', 'Paused: 0\r\n') +
        member('QueueMemberPause', 'Paused: 1\r\nPausedReason: lunch\r\n') +
        member('QueueMemberPause', 'Paused: 0\r\nPausedReason: \r\n') +
        member('QueueMemberRemoved') +
        member('QueueMemberStatus', 'Paused: 0\r\n'),
    );
    const events = decoder.push(bytes, Date.parse('2026-11-21T10:00:00Z')).flatMap((s) => tracker.apply(s));
    expect(events.map((e) => [e.event_name, e.context, e.agent?.member, e.agent?.queue, e.agent?.reason])).toEqual([
      ['agent.login', 'AGENT', 'PJSIP/agent1', 'support', null],
      ['agent.paused', 'AGENT', 'PJSIP/agent1', 'support', 'lunch'],
      ['agent.unpaused', 'AGENT', 'PJSIP/agent1', 'support', null],
      ['agent.logout', 'AGENT', 'PJSIP/agent1', 'support', null],
    ]);
    expect(events[0].agent?.name).toBe('Agent One');
    expect(events[0].call_id).toBeNull();
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
  });

  it('are numbered per agent: two agents interleaved each count 1..n, and each is its own delivery key', async () => {
    const decoder = await createDecoder('asterisk');
    const tracker = new CallTracker({ pbx: { name: 'pbx1', type: 'asterisk' }, source: 'ami' });
    const two = (ev: string, extra = '') => member(ev, extra).replaceAll('agent1', 'agent2').replace('Agent One', 'Agent Two');
    const bytes = Buffer.from(
      'Asterisk Call Manager/13.0.0\r\n' +
        member('QueueMemberAdded') + two('QueueMemberAdded') + two('QueueMemberPause', 'Paused: 1\r\n') +
        member('QueueMemberPause', 'Paused: 1\r\n') + member('QueueMemberRemoved') + two('QueueMemberRemoved'),
    );
    const events = decoder.push(bytes, Date.parse('2026-11-21T10:00:00Z')).flatMap((s) => tracker.apply(s));
    const per = (m: string) => events.filter((e) => e.agent?.member === m).map((e) => `${e.event_name} ${e.sequence}`);
    expect(per('PJSIP/agent1')).toEqual(['agent.login 1', 'agent.paused 2', 'agent.logout 3']);
    expect(per('PJSIP/agent2')).toEqual(['agent.login 1', 'agent.paused 2', 'agent.logout 3']);
    expect(new Set(events.map(callKeyOf))).toEqual(new Set(['pbx1:PJSIP/agent1', 'pbx1:PJSIP/agent2']));
  });
});
