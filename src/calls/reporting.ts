/**
 * `call.reporting`: the one record per finished call (DESIGN §3): who answered, every real
 * leg with its outcome, the call's timing and its cause.
 */
import type { CallEvent, ReportLeg, ReportSegment, Reporting } from './events.js';
import { answeredCallee, firstRing, isLocal, lastCalleeStatus, legOutcome, realLegs, reportCause, type Call, type Leg } from './model.js';
import { iso, isoOrNull, secs, timing } from './payload.js';

/** fills `ev` (a call-scoped event named call.reporting) from the finished `call` */
export function fillReporting(ev: CallEvent, call: Call, time: number, recordingOf: (leg: Leg) => string | null): CallEvent {
  const orig = call.legs.get(call.originatorId)!;
  const callee = answeredCallee(call);
  const stay = call.stays.length ? call.stays[call.stays.length - 1] : null;
  const endAt = Math.max(...[...call.legs.values()].map((l) => l.endedAt ?? time));
  const answerAt = callee?.connectedAt ?? null;
  const ringStart = firstRing(call);
  ev.endpoint = callee?.endpoint ?? null;
  ev.leg_id = null;
  ev.queue = stay ? { name: stay.queue, position: stay.position, wait_seconds: stay.waitSeconds, disposition: stay.disposition } : null;
  timing(ev, call.createdAt, ringStart, answerAt, endAt, time);
  ev.hangup_cause = orig.causeName;
  ev.hangup_cause_code = orig.cause;
  ev.sip_status = callee ? 200 : orig.sipStatus ?? lastCalleeStatus(call);
  const legs: ReportLeg[] = realLegs(call).map((l) => ({
    leg_id: l.id,
    endpoint: l.endpoint,
    number: l.number,
    name: l.name,
    role: l.trunk && l.id !== call.originatorId ? 'trunk' : l.id === call.originatorId ? 'caller' : l.memberOf ? 'member' : 'callee',
    outcome: legOutcome(call, l),
    start_time: iso(l.createdAt),
    connected_at: isoOrNull(l.connectedAt),
    ended_at: isoOrNull(l.endedAt),
    hangup_cause: l.causeName,
  }));
  const segments: ReportSegment[] = [...call.legs.values()]
    .filter((l): l is Leg & { connectedAt: number } => isLocal(l) && l.connectedAt !== null)
    .sort((a, b) => a.connectedAt - b.connectedAt)
    .map((l) => ({
      leg_id: l.id,
      endpoint: l.endpoint,
      number: l.number,
      name: l.name,
      connected_at: iso(l.connectedAt),
      ended_at: isoOrNull(l.endedAt),
      talk_duration: secs((l.endedAt ?? time) - l.connectedAt),
      recording_url: recordingOf(l),
    }));
  const report: Reporting = {
    type: call.stays.length ? 'queue' : call.ivr ? 'ivr' : call.originated ? 'originate' : 'direct',
    created_at: iso(call.createdAt),
    start_at: iso(orig.createdAt),
    answer_at: isoOrNull(answerAt),
    end_at: iso(endAt),
    duration: secs(endAt - call.createdAt),
    ring_duration: secs((answerAt ?? endAt) - (ringStart ?? endAt)),
    billing_duration: answerAt !== null ? secs(endAt - answerAt) : 0,
    cause: reportCause(call, callee),
    answered_by: callee?.endpoint ?? null,
    legs,
    segments,
    did: orig.trunk ? orig.exten : null,
    ivr: call.ivr?.name ?? null,
  };
  ev.reporting = report;
  return ev;
}
