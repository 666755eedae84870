/**
 * `format: ziwo`: ZIWO-style live call events (camelCase, one object per leg event):
 * `coreUUID` (the logical call), `callID` (this leg), `otherLegCallID`, `type`, `data`,
 * `flags`, `callerIdName`, `callerIdNumber`, `calleeIdName`, `calleeIdNumber`, `startedAt`
 * (ISO 8601 UTC with milliseconds), `startedAtEpoch` (epoch microseconds as a string).
 *
 * ZIWO's own reference for these events could not be found; the field names follow the
 * brief, the value choices are ours:
 * - `type`: call.initial -> "initiated", ringing -> "ringing", connected -> "answered",
 *   hold -> "hold", unhold -> "unhold", missed -> "missed", hangup -> "hangup",
 *   dtmf -> "dtmf"; call.reporting, agent.* and ivr.* are not sent;
 * - `otherLegCallID` is null: the canonical event does not name the peer leg;
 * - `data` carries the details of the event (context, state, direction, queue, times,
 *   durations, hangup cause, DTMF digit, hold side, recording), unknown values null;
 * - `flags` are booleans: inbound, outbound, internal, queue, onHold, missed, recorded.
 */
import type { CallEvent, EventName } from '../../calls/events.js';
import { epochMicros, normalizedIso, type PayloadFormat } from './common.js';

const TYPES: Partial<Record<EventName, string>> = {
  'call.initial': 'initiated',
  'call.ringing': 'ringing',
  'call.connected': 'answered',
  'call.hold': 'hold',
  'call.unhold': 'unhold',
  'call.missed': 'missed',
  'call.hangup': 'hangup',
  'call.dtmf': 'dtmf',
};

export interface ZiwoEvent {
  coreUUID: string | null;
  callID: string | null;
  otherLegCallID: string | null;
  type: string;
  data: {
    eventId: string;
    eventTime: string | null;
    sequence: number;
    context: string;
    state: string | null;
    previousState: string | null;
    direction: string | null;
    endpoint: string | null;
    queueName: string | null;
    queuePosition: number | null;
    queueWaitSeconds: number | null;
    queueDisposition: string | null;
    ringingAt: string | null;
    answeredAt: string | null;
    endedAt: string | null;
    duration: number | null;
    ringDuration: number | null;
    talkDuration: number | null;
    hangupCause: string | null;
    hangupCauseCode: number | null;
    sipStatus: number | null;
    dtmfDigit: string | null;
    dtmfPressedBy: string | null;
    digits: string;
    holdBy: string | null;
    recordingUrl: string | null;
    pbx: string;
  };
  flags: {
    inbound: boolean;
    outbound: boolean;
    internal: boolean;
    queue: boolean;
    onHold: boolean;
    missed: boolean;
    recorded: boolean;
  };
  callerIdName: string | null;
  callerIdNumber: string | null;
  calleeIdName: string | null;
  calleeIdNumber: string | null;
  startedAt: string | null;
  startedAtEpoch: string | null;
}

export function toZiwo(ev: CallEvent): ZiwoEvent {
  return {
    coreUUID: ev.call_id,
    callID: ev.leg_id,
    otherLegCallID: null,
    type: TYPES[ev.event_name] ?? ev.event_name,
    data: {
      eventId: ev.id,
      eventTime: normalizedIso(ev.event_time),
      sequence: ev.sequence,
      context: ev.context,
      state: ev.state,
      previousState: ev.previous_state,
      direction: ev.direction,
      endpoint: ev.endpoint,
      queueName: ev.queue?.name ?? null,
      queuePosition: ev.queue?.position ?? null,
      queueWaitSeconds: ev.queue?.wait_seconds ?? null,
      queueDisposition: ev.queue?.disposition ?? null,
      ringingAt: normalizedIso(ev.ringing_at),
      answeredAt: normalizedIso(ev.connected_at),
      endedAt: normalizedIso(ev.ended_at),
      duration: ev.duration,
      ringDuration: ev.ring_duration,
      talkDuration: ev.talk_duration,
      hangupCause: ev.hangup_cause,
      hangupCauseCode: ev.hangup_cause_code,
      sipStatus: ev.sip_status,
      dtmfDigit: ev.dtmf?.digit ?? null,
      dtmfPressedBy: ev.dtmf?.pressed_by ?? null,
      digits: ev.digits,
      holdBy: ev.hold?.by ?? null,
      recordingUrl: ev.recording_url,
      pbx: ev.pbx.name,
    },
    flags: {
      inbound: ev.direction === 'in',
      outbound: ev.direction === 'out',
      internal: ev.direction === 'internal',
      queue: ev.queue !== null,
      onHold: ev.state === 'ON_HOLD',
      missed: ev.event_name === 'call.missed',
      recorded: ev.recording_url !== null,
    },
    callerIdName: ev.src_name,
    callerIdNumber: ev.src,
    calleeIdName: ev.dst_name,
    calleeIdNumber: ev.dst,
    startedAt: normalizedIso(ev.start_time),
    startedAtEpoch: epochMicros(ev.start_time),
  };
}

export const ziwoFormat: PayloadFormat = {
  name: 'ziwo',
  sends: (ev) => ev.event_name in TYPES,
  payload: (ev) => toZiwo(ev),
  sharedAcrossWebhooks: true,
};
