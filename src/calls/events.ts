/**
 * The canonical call event (DESIGN §3): what the tracker emits, what the router filters on
 * and what every payload format is rendered from. Unknown values are null, never missing.
 */
import type { PbxType } from './signals.js';

export type LegState = 'INITIAL' | 'RINGING' | 'CONNECTED' | 'ON_HOLD' | 'HANGUP';
export type EventContext = 'LOCAL_USER' | 'QUEUE' | 'CALL' | 'AGENT' | 'IVR';
export type Direction = 'in' | 'out' | 'internal';

export const EVENT_NAMES = [
  'call.initial',
  'call.ringing',
  'call.connected',
  'call.hold',
  'call.unhold',
  'call.missed',
  'call.hangup',
  'call.dtmf',
  'call.transferred',
  'call.reporting',
  'agent.login',
  'agent.logout',
  'agent.paused',
  'agent.unpaused',
  'queue.wrapup',
  'ivr.start',
  'ivr.end',
] as const;
export type EventName = (typeof EVENT_NAMES)[number];

export interface QueueInfo {
  name: string | null;
  position: number | null;
  wait_seconds: number | null;
  disposition: 'answered' | 'abandoned' | 'timeout' | null;
}

export interface DtmfInfo {
  digit: string;
  pressed_by: 'caller' | 'callee';
  duration_ms: number | null;
}

export interface ReportLeg {
  leg_id: string;
  endpoint: string;
  number: string | null;
  name: string | null;
  role: 'caller' | 'callee' | 'member' | 'trunk';
  outcome: 'answered' | 'missed' | 'answered_elsewhere' | 'cancelled' | 'busy' | 'failed' | 'caller';
  start_time: string;
  connected_at: string | null;
  ended_at: string | null;
  hangup_cause: string | null;
}

/**
 * One agent's part of a call (Engage Voice sends a record per agent segment): each local leg
 * that was connected, in the order they were, with its own talk time. A transferred call has
 * one per agent who spoke with the customer.
 */
export interface ReportSegment {
  leg_id: string;
  endpoint: string;
  number: string | null;
  name: string | null;
  connected_at: string;
  ended_at: string | null;
  talk_duration: number;
  /** the recording of this leg (its own, else the call's), as calls.recording_url renders it */
  recording_url: string | null;
}

export interface Reporting {
  type: 'direct' | 'queue' | 'ivr' | 'originate';
  created_at: string;
  start_at: string;
  answer_at: string | null;
  end_at: string;
  duration: number;
  ring_duration: number;
  billing_duration: number;
  cause: 'answer' | 'busy' | 'no_answer' | 'cancel' | 'failed';
  answered_by: string | null;
  legs: ReportLeg[];
  segments: ReportSegment[];
  did: string | null;
  ivr: string | null;
}

export interface AgentInfo {
  member: string;
  name: string | null;
  queue: string | null;
  reason: string | null;
}

/** call.transferred: who handed the call on, whom, and to where */
export interface TransferInfo {
  kind: 'blind' | 'attended';
  /** the transferring party's leg and endpoint */
  by_leg: string;
  by_endpoint: string | null;
  /** the party being transferred (the other side of the transferer's call) */
  transferee_leg: string | null;
  /** where the call goes: the extension dialled (blind) or the consulted endpoint (attended) */
  to: string | null;
}

/**
 * queue.wrapup: a queue member's after-call work, in the states VoIPstudio sends. No PBX here
 * has a wrap-up panel, so: START when the member's queue call ended (Asterisk AgentComplete,
 * FreeSWITCH bridge-agent-end); TIMEOUT when the wrap-up time ran out and the queue may offer
 * the member calls again; END when it ended before that because the member paused, logged out
 * or finished another queue call.
 */
export interface WrapupInfo {
  state: 'START' | 'END' | 'TIMEOUT';
  /** the wrap-up time the member has (the PBX's member value, else pbx[].wrapup_time) */
  seconds: number;
  /** the queue call it follows */
  call_id: string | null;
}

export interface CallEvent {
  id: string;
  event_name: EventName;
  event_time: string;
  sequence: number;
  call_id: string | null;
  leg_id: string | null;
  context: EventContext;
  state: LegState | null;
  previous_state: LegState | null;
  direction: Direction | null;
  src: string | null;
  src_name: string | null;
  dst: string | null;
  dst_name: string | null;
  endpoint: string | null;
  queue: QueueInfo | null;
  start_time: string | null;
  ringing_at: string | null;
  connected_at: string | null;
  ended_at: string | null;
  duration: number | null;
  ring_duration: number | null;
  talk_duration: number | null;
  hangup_cause: string | null;
  hangup_cause_code: number | null;
  sip_status: number | null;
  dtmf: DtmfInfo | null;
  hold: { by: 'local' | 'remote' } | null;
  digits: string;
  recording_url: string | null;
  pbx: { name: string; type: PbxType };
  signal: { source: 'ami' | 'esl' | 'callhook'; event: string; reconciled?: boolean };
  /** call.reporting only */
  reporting?: Reporting;
  /** agent.* and queue.wrapup only */
  agent?: AgentInfo;
  /** queue.wrapup only */
  wrapup?: WrapupInfo;
  /** ivr.* only: the IVR's name and the digits entered in it (so far) */
  ivr?: { name: string; digits: string };
  /** call.transferred only */
  transfer?: TransferInfo;
}

/** A CallEvent with every field present: the given ones set, the rest null (DESIGN §3: never missing). */
export function blankEvent(
  required: Pick<CallEvent, 'id' | 'event_name' | 'event_time' | 'sequence' | 'call_id' | 'context' | 'pbx' | 'signal'>,
): CallEvent {
  return {
    id: required.id,
    event_name: required.event_name,
    event_time: required.event_time,
    sequence: required.sequence,
    call_id: required.call_id,
    leg_id: null,
    context: required.context,
    state: null,
    previous_state: null,
    direction: null,
    src: null,
    src_name: null,
    dst: null,
    dst_name: null,
    endpoint: null,
    queue: null,
    start_time: null,
    ringing_at: null,
    connected_at: null,
    ended_at: null,
    duration: null,
    ring_duration: null,
    talk_duration: null,
    hangup_cause: null,
    hangup_cause_code: null,
    sip_status: null,
    dtmf: null,
    hold: null,
    digits: '',
    recording_url: null,
    pbx: required.pbx,
    signal: required.signal,
  };
}
