/**
 * What the tracker keeps of a call in progress: its legs, its queue stays, and the queries
 * every rule and payload asks of them. Plain data, no I/O.
 */
import type { LegState, QueueInfo, ReportLeg, Reporting } from './events.js';

export interface Leg {
  id: string;
  callId: string;
  channel: string;
  endpoint: string;
  number: string | null;
  name: string | null;
  exten: string | null;
  dialplanContext: string | null;
  /** trunk legs set direction and numbers but get no LOCAL_USER events */
  trunk: boolean;
  /** PBX-internal helper channels (Local/, loopback/: the adapter says) get no events either */
  helper: boolean;
  parentId: string | null;
  /** queue this leg was offered for, when it is a queue member's leg */
  memberOf: string | null;
  state: LegState;
  createdAt: number;
  ringingAt: number | null;
  connectedAt: number | null;
  endedAt: number | null;
  /** the tracker clock (the daemon's, from ticks) at the leg's last signal; null before the first tick */
  lastSeenClock: number | null;
  dialEnd: string | null;
  cause: number | null;
  causeName: string | null;
  sipStatus: number | null;
  byEndpoint: boolean | null;
  missed: boolean;
  vars: Record<string, string>;
  /** the file the PBX records this leg into, when it said so */
  recording: string | null;
}

export interface Stay {
  legId: string;
  queue: string;
  state: LegState;
  joinedAt: number;
  ringingAt: number | null;
  connectedAt: number | null;
  endedAt: number | null;
  position: number | null;
  waitSeconds: number | null;
  disposition: QueueInfo['disposition'];
  memberLegId: string | null;
  offered: Set<string>;
}

export interface Call {
  id: string;
  originatorId: string;
  legs: Map<string, Leg>;
  stays: Stay[];
  seq: number;
  digits: string;
  dst: string | null;
  createdAt: number;
  vars: Record<string, string>;
  /** its first leg rang before it dialled anyone (AMI Originate, click-to-call) */
  originated: boolean;
  /** the IVR the caller is in (from its answer until it is dialled onward, queued or gone) */
  ivr: { name: string; startedAt: number; digitsFrom: number; open: boolean } | null;
}

export function isLocal(leg: Leg): boolean {
  return !leg.trunk && !leg.helper;
}

export function activeStay(call: Call, legId: string): Stay | undefined {
  for (let i = call.stays.length - 1; i >= 0; i--) {
    const s = call.stays[i];
    if (s.legId === legId && s.endedAt === null) return s;
  }
  return undefined;
}

export function lastStay(call: Call, legId: string): Stay | undefined {
  for (let i = call.stays.length - 1; i >= 0; i--) if (call.stays[i].legId === legId) return call.stays[i];
  return undefined;
}

/**
 * The legs a call reports: the PBX's helper channels (Asterisk Local/ pairs a ring group or
 * FreePBX dials through, FreeSWITCH loopback/) stand between the caller and the real
 * endpoints and are never reported themselves.
 */
export function realLegs(call: Call): Leg[] {
  return [...call.legs.values()].filter((l) => !l.helper);
}

export function answeredCallee(call: Call): Leg | undefined {
  for (const leg of call.legs.values()) if (leg.id !== call.originatorId && !leg.helper && leg.connectedAt !== null) return leg;
  return undefined;
}

export function firstCallee(call: Call): Leg | undefined {
  for (const leg of call.legs.values()) if (leg.id !== call.originatorId && !leg.helper) return leg;
  return undefined;
}

/** when the call first rang at a callee (or a queue); else when the caller heard it ring (183 early media) */
export function firstRing(call: Call): number | null {
  let t: number | null = null;
  for (const leg of call.legs.values()) {
    if (leg.id === call.originatorId) continue;
    if (leg.ringingAt !== null && (t === null || leg.ringingAt < t)) t = leg.ringingAt;
  }
  for (const s of call.stays) if (s.ringingAt !== null && (t === null || s.ringingAt < t)) t = s.ringingAt;
  return t ?? call.legs.get(call.originatorId)?.ringingAt ?? null;
}

export function lastCalleeStatus(call: Call): number | null {
  let status: number | null = null;
  for (const leg of realLegs(call)) if (leg.id !== call.originatorId && leg.sipStatus !== null) status = leg.sipStatus;
  return status;
}

export function legOutcome(call: Call, leg: Leg): ReportLeg['outcome'] {
  if (leg.id === call.originatorId) return 'caller';
  if (leg.connectedAt !== null) return 'answered';
  if (leg.missed) return 'missed';
  if (leg.dialEnd === 'BUSY' || leg.cause === 17) return 'busy';
  if (answeredCallee(call)) return 'answered_elsewhere';
  if (leg.dialEnd === 'CANCEL') return 'cancelled';
  return 'failed';
}

export function reportCause(call: Call, callee: Leg | undefined): Reporting['cause'] {
  if (callee) return 'answer';
  const orig = call.legs.get(call.originatorId)!;
  const callees = realLegs(call).filter((l) => l !== orig);
  const statuses = new Set(callees.map((l) => l.dialEnd ?? (l.cause === 17 ? 'BUSY' : null)));
  if (statuses.has('BUSY') || (callees.length === 0 && orig.cause === 17)) return 'busy';
  if (orig.byEndpoint === true || statuses.has('CANCEL') || call.stays.some((s) => s.disposition === 'abandoned')) return 'cancel';
  if (statuses.has('NOANSWER') || orig.cause === 19 || orig.cause === 18 || call.stays.some((s) => s.disposition === 'timeout')) return 'no_answer';
  return 'failed';
}
