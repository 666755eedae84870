/**
 * `format: voiso`: Voiso's webhook envelope `{name, event, entity, timestamp, key, payload}`
 * (Voiso developer docs, "Webhooks overview") with its direction-named call events:
 *
 * - `inbound.call.answered`  an agent's leg of an inbound call is answered (LOCAL_USER
 *                            call.connected, direction in);
 * - `outbound.call.answered` the contact answers a call an agent placed (LOCAL_USER
 *                            call.connected, direction out);
 * - `inbound.call.hangup` / `outbound.call.hangup`: one per call in the usual cases: the
 *   hangup of the agent leg that answered an inbound call (or placed an outbound one); of a
 *   queue stay that ended unanswered (QUEUE call.hangup, disposition abandoned / timeout);
 *   of a direct inbound leg that rang out unanswered (disposition missed / busy / rejected).
 *   Queue members' unanswered rings and ring-group legs answered elsewhere are not sent.
 *
 * Internal calls and every other event are not sent (Voiso has no event for them).
 * `dialer.call.*` is not produced: callhook has no notion of dialer campaigns to tell those
 * calls apart. `key` is the webhook's `token` (null when none is configured).
 * `payload` follows Voiso's call object (`id`, `type`, `start_time`, `agent_start_time`,
 * `duration.{total,queue_time}`, `queue`, `calling_number`, `called_number`, `agent`), plus
 * `end_time`, `disposition`, `hangup_cause` and `recording_url` on hangups.
 * Times are ISO 8601 UTC to the second ("2024-08-14T10:43:54Z").
 */
import type { CallEvent } from '../../calls/events.js';
import type { WebhookConfig } from '../../config/types.js';
import { endpointNumber, isoSeconds, type PayloadFormat } from './common.js';

export type VoisoEvent = 'inbound.call.answered' | 'inbound.call.hangup' | 'outbound.call.answered' | 'outbound.call.hangup';

/** The Voiso event name for a canonical event, or null when this format does not send it. */
export function voisoEventName(ev: CallEvent): VoisoEvent | null {
  if (ev.direction !== 'in' && ev.direction !== 'out') return null;
  const dir = ev.direction === 'in' ? 'inbound' : 'outbound';
  const answered = ev.connected_at !== null;
  if (ev.context === 'LOCAL_USER') {
    if (ev.event_name === 'call.connected') return `${dir}.call.answered`;
    if (ev.event_name !== 'call.hangup') return null;
    // the agent's own leg of an outbound call, and the inbound leg that took the call
    if (dir === 'outbound' || answered) return `${dir}.call.hangup`;
    // unanswered inbound legs: only direct calls that nobody else answered (queue members'
    // rings and ring-group legs that lost the race would repeat the call's one hangup)
    if (ev.queue === null && !ANSWERED_ELSEWHERE.has(ev.hangup_cause ?? '')) return 'inbound.call.hangup';
    return null;
  }
  if (ev.context === 'QUEUE' && ev.event_name === 'call.hangup' && dir === 'inbound' && !answered) {
    return 'inbound.call.hangup';
  }
  return null;
}

const ANSWERED_ELSEWHERE = new Set(['NORMAL_CLEARING_ANSWERED_ELSEWHERE', 'ANSWERED_ELSEWHERE', 'LOSE_RACE', 'PICKED_OFF']);

export interface VoisoCall {
  id: string | null;
  leg_id: string | null;
  type: 'inbound' | 'outbound';
  start_time: string | null;
  agent_start_time: string | null;
  end_time: string | null;
  duration: { total: number | null; queue_time: number | null; talk_time: number | null };
  queue: string | null;
  calling_number: string | null;
  calling_name: string | null;
  called_number: string | null;
  called_name: string | null;
  disposition: string | null;
  hangup_cause: string | null;
  recording_url: string | null;
  agent: { id: string; name: string | null; extension: string | null } | null;
}

export interface VoisoEnvelope {
  name: string;
  event: VoisoEvent;
  entity: 'call';
  timestamp: string | null;
  key: string | null;
  payload: VoisoCall;
}

function disposition(ev: CallEvent): string | null {
  if (ev.event_name !== 'call.hangup') return null;
  if (ev.context === 'QUEUE') return ev.queue?.disposition ?? (ev.connected_at ? 'answered' : 'abandoned');
  if (ev.connected_at) return 'answered';
  switch (ev.hangup_cause) {
    case 'USER_BUSY':
      return 'busy';
    case 'CALL_REJECTED':
      return 'rejected';
    case 'ORIGINATOR_CANCEL':
      return ev.direction === 'out' ? 'failed' : 'missed';
    default:
      return ev.direction === 'out' ? 'no_answer' : 'missed';
  }
}

export function toVoiso(ev: CallEvent, webhook: WebhookConfig): VoisoEnvelope | null {
  const event = voisoEventName(ev);
  if (!event) return null;
  const inbound = ev.direction === 'in';
  const agentName = inbound ? ev.dst_name : ev.src_name;
  return {
    name: webhook.name,
    event,
    entity: 'call',
    timestamp: isoSeconds(ev.event_time),
    key: webhook.token,
    payload: {
      id: ev.call_id,
      leg_id: ev.leg_id,
      type: inbound ? 'inbound' : 'outbound',
      start_time: isoSeconds(ev.start_time),
      agent_start_time: isoSeconds(ev.connected_at),
      end_time: isoSeconds(ev.ended_at),
      duration: {
        total: ev.duration,
        queue_time: ev.queue?.wait_seconds ?? null,
        talk_time: ev.talk_duration,
      },
      queue: ev.queue?.name ?? null,
      calling_number: ev.src,
      calling_name: ev.src_name,
      called_number: ev.dst,
      called_name: ev.dst_name,
      disposition: disposition(ev),
      hangup_cause: ev.hangup_cause,
      recording_url: ev.recording_url,
      agent:
        ev.context === 'LOCAL_USER' && ev.endpoint
          ? { id: ev.endpoint, name: agentName, extension: endpointNumber(ev.endpoint) }
          : null,
    },
  };
}

export const voisoFormat: PayloadFormat = {
  name: 'voiso',
  sends: (ev) => voisoEventName(ev) !== null,
  payload: (ev, webhook) => toVoiso(ev, webhook),
  // name and key come from the webhook
  sharedAcrossWebhooks: false,
};
