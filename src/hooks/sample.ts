/**
 * Realistic, complete sample events for `callhook send-test` (and for checking templates):
 * an inbound call from a carrier through the "support" queue to agent 1001, seen at the
 * moment each event would fire. `signal.source` is "callhook" and `signal.event` "sample",
 * so a receiver can tell a test delivery from a real one; each call gets a fresh event id
 * unless one is given (receivers deduplicate by id).
 */
import { randomUUID } from 'node:crypto';
import { blankEvent, type CallEvent, type EventName, type LegState } from '../calls/events.js';
import type { PbxType } from '../calls/signals.js';

export interface SampleOptions {
  /** epoch ms the event "happens" at (default: now) */
  now?: number;
  /** event id (default: a random UUID) */
  id?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A complete CallEvent named `name`, every field present as the tracker would fill it. */
export function sampleEvent(
  name: EventName,
  pbx: { name: string; type: PbxType } = { name: 'pbx1', type: 'asterisk' },
  opts: SampleOptions = {},
): CallEvent {
  const now = Math.floor((opts.now ?? Date.now()) / 1000) * 1000 + 123;
  const asterisk = pbx.type === 'asterisk';
  // the call started 40 s ago: 5 s in the queue, 5 s ringing, then talking
  const start = now - 40_000;
  const ringingAt = start + 5_000;
  const connectedAt = start + 10_000;
  const callId = asterisk ? `${Math.floor(start / 1000)}.42` : '3f9c2a7e-5b1d-4c8e-9a0f-1d2e3f4a5b6c';
  const legId = asterisk ? `${Math.floor(ringingAt / 1000)}.45` : '8a7b6c5d-4e3f-4a2b-8c1d-0e9f8a7b6c5d';
  const endpoint = asterisk ? 'PJSIP/1001' : 'sofia/internal/1001';

  const ev: CallEvent = {
    ...blankEvent({
      id: opts.id ?? randomUUID(),
      event_name: name,
      event_time: iso(now),
      sequence: 1,
      call_id: callId,
      context: 'LOCAL_USER',
      pbx: { name: pbx.name, type: pbx.type },
      signal: { source: 'callhook', event: 'sample' },
    }),
    leg_id: legId,
    direction: 'in',
    src: '+442071234567',
    src_name: 'Alice Smith',
    dst: '1001',
    dst_name: 'Bob Agent',
    endpoint,
    queue: { name: 'support', position: 1, wait_seconds: 5, disposition: null },
    start_time: iso(start),
  };

  const at = (state: LegState, previous: LegState | null, sequence: number) => {
    ev.state = state;
    ev.previous_state = previous;
    ev.sequence = sequence;
  };
  const connected = () => {
    ev.ringing_at = iso(ringingAt);
    ev.connected_at = iso(connectedAt);
    ev.ring_duration = 5;
    ev.queue!.disposition = 'answered';
  };
  const ended = (answered: boolean) => {
    ev.ringing_at = iso(ringingAt);
    ev.ended_at = iso(now);
    ev.duration = Math.round((now - start) / 1000);
    if (answered) {
      connected();
      ev.talk_duration = Math.round((now - connectedAt) / 1000);
      ev.hangup_cause = 'NORMAL_CLEARING';
      ev.hangup_cause_code = 16;
      ev.sip_status = 200;
      ev.recording_url = `https://pbx.example.com/recordings/${callId}.wav`;
    } else {
      ev.ring_duration = Math.round((now - ringingAt) / 1000);
      ev.hangup_cause = 'NO_ANSWER';
      ev.hangup_cause_code = 19;
      ev.sip_status = 480;
    }
  };

  switch (name) {
    case 'call.initial':
      at('INITIAL', null, 1);
      ev.start_time = iso(now);
      break;
    case 'call.ringing':
      at('RINGING', 'INITIAL', 2);
      ev.ringing_at = iso(now);
      break;
    case 'call.connected':
      at('CONNECTED', 'RINGING', 3);
      connected();
      break;
    case 'call.hold':
      at('ON_HOLD', 'CONNECTED', 4);
      connected();
      ev.hold = { by: 'local' };
      break;
    case 'call.unhold':
      at('CONNECTED', 'ON_HOLD', 5);
      connected();
      ev.hold = { by: 'local' };
      break;
    case 'call.dtmf':
      at('CONNECTED', 'CONNECTED', 4);
      connected();
      ev.context = 'CALL';
      ev.dtmf = { digit: '5', pressed_by: 'callee', duration_ms: 120 };
      ev.digits = '15';
      break;
    case 'call.missed':
    case 'call.hangup': {
      const answered = name === 'call.hangup';
      at('HANGUP', answered ? 'CONNECTED' : 'RINGING', answered ? 6 : 3);
      ended(answered);
      if (!answered) ev.queue!.disposition = null;
      break;
    }
    case 'call.reporting':
      ev.context = 'CALL';
      ev.leg_id = null;
      ev.endpoint = null;
      ev.sequence = 8;
      ended(true);
      ev.dst = '+442030001000';
      ev.dst_name = null;
      ev.reporting = {
        type: 'queue',
        created_at: iso(start),
        start_at: iso(start),
        answer_at: iso(connectedAt),
        end_at: iso(now),
        duration: Math.round((now - start) / 1000),
        ring_duration: 10,
        billing_duration: Math.round((now - connectedAt) / 1000),
        cause: 'answer',
        answered_by: endpoint,
        legs: [
          {
            leg_id: asterisk ? `${Math.floor(start / 1000)}.42` : callId,
            endpoint: asterisk ? 'PJSIP/provider' : 'sofia/external/provider',
            number: '+442071234567',
            name: 'Alice Smith',
            role: 'trunk',
            outcome: 'caller',
            start_time: iso(start),
            connected_at: iso(start),
            ended_at: iso(now),
            hangup_cause: 'NORMAL_CLEARING',
          },
          {
            leg_id: legId,
            endpoint,
            number: '1001',
            name: 'Bob Agent',
            role: 'member',
            outcome: 'answered',
            start_time: iso(ringingAt),
            connected_at: iso(connectedAt),
            ended_at: iso(now),
            hangup_cause: 'NORMAL_CLEARING',
          },
        ],
        segments: [
          {
            leg_id: legId, endpoint, number: '1001', name: 'Bob Agent', connected_at: iso(connectedAt), ended_at: iso(now),
            talk_duration: Math.round((now - connectedAt) / 1000), recording_url: ev.recording_url,
          },
        ],
        did: '+442030001000',
        ivr: null,
      };
      break;
    case 'agent.login':
    case 'agent.logout':
    case 'agent.paused':
    case 'agent.unpaused':
    case 'queue.wrapup':
      Object.assign(ev, {
        context: 'AGENT', call_id: null, leg_id: null, state: null, direction: null, sequence: 1,
        src: null, src_name: null, dst: null, dst_name: null, queue: null, start_time: null,
      } satisfies Partial<CallEvent>);
      ev.agent = {
        member: endpoint,
        name: 'Bob Agent',
        queue: 'support',
        reason: name === 'agent.paused' ? 'lunch' : null,
      };
      if (name === 'queue.wrapup') ev.wrapup = { state: 'START', seconds: 30, call_id: callId };
      break;
    case 'ivr.start':
    case 'ivr.end':
      ev.context = 'IVR';
      ev.endpoint = asterisk ? 'PJSIP/provider' : 'sofia/external/provider';
      ev.queue = null;
      ev.dst = '+442030001000';
      ev.dst_name = null;
      at('CONNECTED', 'CONNECTED', name === 'ivr.start' ? 2 : 3);
      ev.connected_at = iso(start);
      ev.digits = name === 'ivr.end' ? '1' : '';
      break;
  }
  return ev;
}
