/**
 * `format: voipstudio`: VoIPstudio's call-event webhook body, for receivers written against
 * VoIPstudio (field names and value formats as in its "Integrations - Webhooks" docs).
 *
 * Confirmed from VoIPstudio's docs: the event names, the states (INITIAL, RINGING,
 * CONNECTED, ON_HOLD, HANGUP), `id`, `event_time` as "Y-m-d H:i:s", `event_name`,
 * `call_id`, `state`, `connected_at`. The remaining field names follow the brief; their exact
 * value conventions could not be confirmed and are our choices:
 * - times are UTC "Y-m-d H:i:s"; `connected_at` null until answered;
 * - `call_id` is our logical call id (a string; VoIPstudio's own ids are integers);
 * - `destination` is "in" / "out"; internal (extension to extension) calls are "out", as
 *   VoIPstudio reports calls placed by one of its users;
 * - `src_id` / `dst_id` are the local endpoint (PJSIP/1001) on the side it is on, else null;
 * - `src_hash` = md5("<pbx>:<call_id>"), stable for every event of the call;
 * - `duration` whole seconds of the leg so far (0 before it ends);
 * - `t_cause` the hangup cause as text ("Normal Clearing"), null before hangup;
 * - `context` LOCAL_USER or QUEUE; DTMF events (canonical context CALL) say LOCAL_USER;
 * - call.dtmf adds `dtmf_tag` (the key pressed) and `dtmf_target` ("caller" / "callee",
 *   the party that pressed it).
 * - queue.wrapup has `state` START / END / TIMEOUT, context QUEUE, the call it follows as
 *   `call_id`, the member as `dst_id` / `dst_name` and the queue as `dst`.
 * Other canonical events (call.reporting, agent.*, ivr.*) are not sent in this format.
 */
import { createHash } from 'node:crypto';
import type { CallEvent } from '../../calls/events.js';
import { causeText } from '../../calls/causes.js';
import { localSide, ymdHis, type PayloadFormat } from './common.js';

const SENT = new Set<string>([
  'call.initial',
  'call.ringing',
  'call.missed',
  'call.connected',
  'call.hangup',
  'call.hold',
  'call.unhold',
  'call.dtmf',
  'queue.wrapup',
]);

export interface VoipstudioPayload {
  id: string;
  event_time: string | null;
  event_name: string;
  call_id: string | null;
  state: string | null;
  connected_at: string | null;
  start_time: string | null;
  context: 'LOCAL_USER' | 'QUEUE';
  destination: 'in' | 'out' | null;
  duration: number;
  t_cause: string | null;
  src: string | null;
  src_id: string | null;
  src_name: string | null;
  src_hash: string;
  dst: string | null;
  dst_id: string | null;
  dst_name: string | null;
  dtmf_tag?: string | null;
  dtmf_target?: string | null;
}

/**
 * Which of src_id / dst_id names this event's endpoint. A DTMF event's endpoint is the party
 * that pressed the key, which is only a local user when it is not the outside party.
 */
function idSide(ev: CallEvent): 'src' | 'dst' | null {
  if (!ev.dtmf) return localSide(ev);
  const side = ev.dtmf.pressed_by === 'caller' ? 'src' : 'dst';
  const outside = ev.direction === 'in' ? 'src' : ev.direction === 'out' ? 'dst' : null;
  return side === outside ? null : side;
}

export function toVoipstudio(ev: CallEvent): VoipstudioPayload {
  const side = idSide(ev);
  const p: VoipstudioPayload = {
    id: ev.id,
    event_time: ymdHis(ev.event_time),
    event_name: ev.event_name,
    call_id: ev.call_id,
    state: ev.state,
    connected_at: ymdHis(ev.connected_at),
    start_time: ymdHis(ev.start_time),
    context: ev.context === 'QUEUE' ? 'QUEUE' : 'LOCAL_USER',
    destination: ev.direction === null ? null : ev.direction === 'in' ? 'in' : 'out',
    duration: ev.duration === null ? 0 : Math.round(ev.duration),
    t_cause: causeText(ev.hangup_cause),
    src: ev.src,
    src_id: side === 'src' ? ev.endpoint : null,
    src_name: ev.src_name,
    src_hash: createHash('md5').update(`${ev.pbx.name}:${ev.call_id ?? ev.leg_id ?? ev.id}`).digest('hex'),
    dst: ev.dst,
    dst_id: side === 'dst' ? ev.endpoint : null,
    dst_name: ev.dst_name,
  };
  if (ev.wrapup) {
    Object.assign(p, {
      call_id: ev.wrapup.call_id, state: ev.wrapup.state, context: 'QUEUE', destination: 'in',
      dst: ev.agent?.queue ?? null, dst_id: ev.agent?.member ?? null, dst_name: ev.agent?.name ?? null,
    } satisfies Partial<VoipstudioPayload>);
  }
  if (ev.event_name === 'call.dtmf') {
    p.dtmf_tag = ev.dtmf?.digit ?? null;
    p.dtmf_target = ev.dtmf?.pressed_by ?? null;
  }
  return p;
}

export const voipstudioFormat: PayloadFormat = {
  name: 'voipstudio',
  sends: (ev) => SENT.has(ev.event_name),
  payload: (ev) => toVoipstudio(ev),
  sharedAcrossWebhooks: true,
};
