/**
 * Normalized call signals: what every PBX adapter (AMI, ESL) produces and the call
 * tracker consumes. Everything right of the translator only knows these shapes.
 *
 * Times are epoch milliseconds taken from the PBX event (AMI `Timestamp:`, ESL
 * `Event-Date-Timestamp`) or, when the PBX sends none, the receive time. The tracker
 * never reads a clock: `tick` signals carry the daemon's time for orphan cleanup.
 */

export type PbxType = 'asterisk' | 'freeswitch';

interface Base {
  /** epoch ms */
  time: number;
  /** the PBX event that produced this signal, e.g. "DialEnd" or "CHANNEL_ANSWER" (payload `signal.event`) */
  pbxEvent: string;
}

interface LegRef extends Base {
  /** logical call id: Asterisk Linkedid / FreeSWITCH call UUID of the first leg */
  callId: string;
  /** channel id: Asterisk Uniqueid / FreeSWITCH Unique-ID */
  legId: string;
}

/** INVITE sent to or received from an endpoint: a new channel exists. */
export interface LegCreated extends LegRef {
  kind: 'leg.created';
  /** channel name, e.g. PJSIP/agent1-00000001 or sofia/internal/1001@10.0.0.1 */
  channel: string;
  /** the channel name without the per-call suffix: PJSIP/agent1, sofia/internal/1001 */
  endpoint: string;
  /** this endpoint's own number / name (Asterisk CallerIDNum on its channel) */
  number: string | null;
  name: string | null;
  /** number this leg dialled (inbound legs) or was dialled as; null when unknown ("s") */
  exten: string | null;
  /** dialplan context the channel was created in */
  dialplanContext: string | null;
  /** the leg that dialled this one, when the PBX says so at creation (ESL Other-Leg-Unique-ID) */
  parentLegId?: string | null;
  /** PBX-specific channel variables worth keeping (recording url variable, etc.) */
  vars?: Record<string, string>;
  /**
   * a PBX-internal helper channel between the caller and an endpoint (Asterisk Local/,
   * FreeSWITCH loopback/): part of the call, but never reported as a leg
   */
  helper?: boolean;
}

/** The PBX dialled `peerLegId` on behalf of `legId` (DialBegin, CHANNEL_OUTGOING with Other-Leg). */
export interface LegDialed extends LegRef {
  kind: 'leg.dialed';
  peerLegId: string;
  /** the number that was dialled, when known */
  dialled: string | null;
}

/** 180/183 from the endpoint. */
export interface LegRinging extends LegRef {
  kind: 'leg.ringing';
}

/** 200 OK: the leg is answered (by its endpoint, or by the PBX itself for inbound legs). */
export interface LegAnswered extends LegRef {
  kind: 'leg.answered';
}

/** Hold / resume re-INVITE from the endpoint of `legId`. */
export interface LegHold extends LegRef {
  kind: 'leg.hold';
  on: boolean;
}

/** One key press by the endpoint of `legId` (relayed copies are not signals). */
export interface LegDtmf extends LegRef {
  kind: 'leg.dtmf';
  digit: string;
  durationMs: number | null;
}

/**
 * How a dial attempt to `legId` (the callee) ended, from the dialling side: ANSWER,
 * NOANSWER, BUSY, CANCEL, CONGESTION, CHANUNAVAIL... Only the first one per leg counts.
 * NOANSWER / BUSY / CONGESTION / CHANUNAVAIL mean the endpoint's own ring ended it.
 */
export interface LegDialEnd extends LegRef {
  kind: 'leg.dial_end';
  status: string;
}

/** BYE / CANCEL / final error: the leg is gone. */
export interface LegHangup extends LegRef {
  kind: 'leg.hangup';
  /** Q.850 cause code */
  cause: number | null;
  /** e.g. NORMAL_CLEARING (canonical upper-snake name) */
  causeName: string | null;
  sipStatus: number | null;
  /** true when this leg's endpoint sent the BYE/CANCEL itself, false when the PBX ended it, null if unknown */
  byEndpoint: boolean | null;
  /** closed by a resync after a disconnect, not by a PBX hangup event */
  reconciled?: boolean;
}

/** A caller (legId) enters a queue. */
export interface QueueJoin extends LegRef {
  kind: 'queue.join';
  queue: string;
  position: number | null;
}

/** The queue offers the caller (legId) to a member whose leg is memberLegId. */
export interface QueueOffer extends LegRef {
  kind: 'queue.offer';
  queue: string;
  memberLegId: string | null;
  member: string | null;
}

/** The caller (legId) left the queue. */
export interface QueueLeave extends LegRef {
  kind: 'queue.leave';
  queue: string;
  /** answered | abandoned | timeout | null (exit key / unknown) */
  disposition: 'answered' | 'abandoned' | 'timeout' | null;
  position: number | null;
  waitSeconds: number | null;
}

/** Queue member state changes (not about a call). */
export interface AgentStatus extends Base {
  kind: 'agent.status';
  action: 'login' | 'logout' | 'paused' | 'unpaused';
  queue: string | null;
  member: string;
  memberName: string | null;
  reason: string | null;
}

/** A queue member's queue call ended (Asterisk AgentComplete, FreeSWITCH bridge-agent-end): wrap-up starts. */
export interface AgentCallEnd extends Base {
  kind: 'agent.call_end';
  callId: string | null;
  queue: string | null;
  member: string;
  memberName: string | null;
  /** the member's own wrap-up time (s), when the PBX reports one (Asterisk member Wrapuptime > 0) */
  wrapupSeconds: number | null;
}

/** The PBX transferred the call: `legId` (the transferer) handed `peerLegId` on to `target`. */
export interface LegTransfer extends LegRef {
  kind: 'leg.transfer';
  transfer: 'blind' | 'attended';
  peerLegId: string | null;
  target: string | null;
  /** the leg of the party transferred to, when the PBX names it (attended) */
  targetLegId?: string | null;
  /**
   * attended: the consult call the transferee was joined with, and the transferer's leg in it
   * (which the PBX hangs up): the consult's other legs move into this call
   */
  consult?: { callId: string; transfererLegId: string | null } | null;
}

/** Channel variable or caller-id update worth keeping on the leg (recording file, connected line). */
export interface LegUpdate extends LegRef {
  kind: 'leg.update';
  vars?: Record<string, string>;
  /** the PBX started recording this leg into this file (FreeSWITCH RECORD_START) */
  recording?: string;
  number?: string | null;
  name?: string | null;
}

/**
 * After a (re)connect: the legs the PBX reports alive. Tracked legs not in the list are
 * closed with a reconciled hangup. Legs not yet tracked are adopted in the state given.
 */
export interface Resync extends Base {
  kind: 'resync';
  /** when the connection was lost (a reconnect): legs that ended meanwhile are closed at this time */
  lostAt?: number | null;
  live: Array<{
    callId: string;
    legId: string;
    channel: string;
    endpoint: string;
    number: string | null;
    name: string | null;
    exten: string | null;
    answered: boolean;
    /** alerting (or, for a caller, hearing it ring) when the PBX was asked */
    ringing?: boolean;
    helper?: boolean;
  }>;
}

/** The daemon's clock, so the pure tracker can close orphan legs. */
export interface Tick {
  kind: 'tick';
  time: number;
  pbxEvent: 'tick';
}

export type Signal =
  | LegCreated
  | LegDialed
  | LegRinging
  | LegAnswered
  | LegHold
  | LegDtmf
  | LegTransfer
  | LegDialEnd
  | LegHangup
  | QueueJoin
  | QueueOffer
  | QueueLeave
  | AgentStatus
  | AgentCallEnd
  | LegUpdate
  | Resync
  | Tick;

/** the PBX's times callhook takes: 2000-01-01 up to the last ISO 8601 four-digit year */
const TIME_MIN = 946_684_800_000;
const TIME_MAX = 253_402_300_799_999;

/**
 * A time from the wire (epoch ms), or null when it is not one a PBX could mean (a garbled
 * or absurd Timestamp): the adapter then uses the receive time, so no value from the wire
 * can make a date throw further on.
 */
export function wireTime(ms: number): number | null {
  return Number.isFinite(ms) && ms >= TIME_MIN && ms <= TIME_MAX ? Math.floor(ms) : null;
}

/** Strip the per-call suffix of a channel name: PJSIP/agent1-0000001a -> PJSIP/agent1. */
export function endpointOf(channel: string): string {
  const m = /^(.*)-[0-9a-f]{8}(;\d)?$/i.exec(channel);
  return m ? m[1] : channel;
}
