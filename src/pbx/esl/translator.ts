/**
 * FreeSWITCH ESL translator: turns ESL event headers into the normalized signals of
 * src/calls/signals.ts (the same ones the Asterisk adapter produces).
 *
 * FreeSWITCH traps handled here (see the captures' README):
 * - Channel-Call-UUID is the A-leg's UUID on a B-leg's CHANNEL_CREATE but the B-leg's own
 *   UUID on its later events: the call id is remembered per leg at creation.
 * - the inbound leg goes CHANNEL_CALLSTATE RINGING at routing (ignored), and gets a
 *   CHANNEL_PROGRESS when FreeSWITCH relays the callee's 180 to it: the calling leg rings then,
 *   as Asterisk's DialState RINGING/PROGRESS on the calling channel.
 * - mod_callcenter agent legs carry no Other-Leg-Unique-ID; they are linked to the caller
 *   through variable_cc_member_session_uuid (set at origination) / CC-Member-Session-UUID.
 * - member-queue-end may arrive after the caller's CHANNEL_HANGUP_COMPLETE (and the agent
 *   leg's HANGUP_COMPLETE may come before the caller's): a queue stay is closed at the
 *   caller's CHANNEL_HANGUP, from its cc_* variables, so the stay ends when the caller left
 *   and before the member's leg hangs up, in the same order as Asterisk's QueueCallerLeave.
 * - an originated leg (outbound, no parent: `originate` / click-to-call) is created with
 *   Caller-Destination-Number = its own endpoint: the number the call dials is only known
 *   when the bridge leg is created (leg.dialed), as with Asterisk's Originate.
 * - a loopback/ ring group (bridge loopback/x/ctx,loopback/y/ctx) makes each B leg a new
 *   inbound call with its own call UUID; it is linked to its A leg through
 *   variable_other_loopback_leg_uuid, so the agents it dials stay in the customer's call.
 * - CHANNEL_HOLD and CHANNEL_CALLSTATE HELD both fire for one re-INVITE: one signal.
 * - DTMF-Duration is in 8 kHz samples.
 */
import { causeCode, sipStatusForCause } from '../../calls/causes.js';
import { own } from '../../util/own.js';
import { wireTime, type QueueLeave, type Resync, type Signal } from '../../calls/signals.js';

type Ev = Record<string, string>;

interface LegInfo {
  callId: string;
  inbound: boolean;
  /** the leg that dialled this one (bridge B-leg, or the queue caller for an agent leg) */
  parent: string | null;
  answered: boolean;
  rang: boolean;
  held: boolean;
  ended: boolean;
  /** the leg it is bridged to (its parent until a CHANNEL_BRIDGE says otherwise) */
  partner?: string | null;
  /** the last Caller-Transfer-Source seen on it */
  transferSource?: string;
  /** its endpoint (sofia/internal/1001), when it was created while we watched */
  endpoint?: string;
}

interface QueueStay {
  callId: string;
  queue: string;
  joinedAt: number;
  bridged: boolean;
}

export interface EslTranslatorStats {
  /** events without Event-Name / Unique-ID where one is required */
  malformed: number;
  /** events that produced no signal because nothing maps them (not an error) */
  ignored: number;
}

/**
 * Every event header the translator reads (a test checks this list against the code): a
 * framer given it (EslFramerOptions.keepHeaders) decodes only these of a plain event's ~150.
 */
export const ESL_HEADERS_USED: readonly string[] = [
  'Answer-State', 'CC-Action', 'CC-Agent', 'CC-Agent-Answered-Time', 'CC-Agent-Status',
  'CC-Agent-UUID', 'CC-Cancel-Reason', 'CC-Cause', 'CC-Member-Joined-Time',
  'CC-Member-Leaving-Time', 'CC-Member-Session-UUID', 'CC-Queue', 'Call-Direction',
  'Caller-Callee-ID-Name', 'Caller-Callee-ID-Number', 'Caller-Caller-ID-Name',
  'Caller-Caller-ID-Number', 'Caller-Context', 'Caller-Destination-Number',
  'Caller-Transfer-Source', 'Channel-Call-State', 'Channel-Call-UUID', 'Channel-Name',
  'DTMF-Digit', 'DTMF-Duration', 'Event-Date-Timestamp', 'Event-Name', 'Event-Subclass',
  'Hangup-Cause', 'Other-Leg-Unique-ID', 'Record-File-Path', 'Unique-ID', 'variable_cc_agent',
  'variable_cc_cancel_reason', 'variable_cc_cause', 'variable_cc_member_session_uuid',
  'variable_cc_queue', 'variable_cc_queue_answered_epoch', 'variable_cc_queue_canceled_epoch',
  'variable_cc_queue_joined_epoch', 'variable_cc_side', 'variable_hangup_cause',
  'variable_hangup_cause_q850', 'variable_loopback_leg', 'variable_other_loopback_from_uuid',
  'variable_other_loopback_leg_uuid', 'variable_sip_hangup_disposition',
  'variable_sip_invite_failure_status', 'variable_sip_term_status',
];

const MAX_LEGS = 50_000;
/** a relayed copy of a digit arrives within this window on another leg of the call */
const DTMF_DUP_WINDOW_MS = 200;

export class EslTranslator {
  readonly stats: EslTranslatorStats = { malformed: 0, ignored: 0 };
  private readonly pbxName: string;
  private readonly legs = new Map<string, LegInfo>();
  private readonly stays = new Map<string, QueueStay>();
  private readonly agentStatus = new Map<string, string>();
  private readonly lastDtmf = new Map<string, { legId: string; digit: string; time: number }>();

  constructor(opts: { pbxName: string }) {
    this.pbxName = opts.pbxName;
  }

  /** the PBX connection this translator belongs to (for log lines) */
  get name(): string {
    return this.pbxName;
  }

  translate(ev: Ev, receivedAt: number): Signal[] {
    const name = str(ev['Event-Name']);
    if (!name) {
      this.stats.malformed++;
      return [];
    }
    const time = eventTime(ev) ?? receivedAt;
    const source = str(ev['Caller-Transfer-Source']);
    if (source) {
      const t = this.onTransferSource(ev, source, name, time);
      if (t) return [t, ...this.translateEvent(ev, name, time)];
    }
    return this.translateEvent(ev, name, time);
  }

  private translateEvent(ev: Ev, name: string, time: number): Signal[] {
    switch (name) {
      case 'CHANNEL_CREATE':
        return this.onCreate(ev, time);
      case 'CHANNEL_PROGRESS':
      case 'CHANNEL_PROGRESS_MEDIA':
        return this.onProgress(ev, name, time);
      case 'CHANNEL_ANSWER':
        return this.onAnswer(ev, name, time);
      case 'CHANNEL_BRIDGE':
        return this.onBridge(ev, time);
      case 'CHANNEL_HOLD':
        return this.onHold(ev, name, true, time);
      case 'CHANNEL_UNHOLD':
        return this.onHold(ev, name, false, time);
      case 'CHANNEL_CALLSTATE': {
        const cs = str(ev['Channel-Call-State']);
        if (cs === 'HELD') return this.onHold(ev, name, true, time);
        if (cs === 'UNHELD') return this.onHold(ev, name, false, time);
        this.stats.ignored++;
        return [];
      }
      case 'DTMF':
        return this.onDtmf(ev, time);
      case 'CHANNEL_HANGUP':
        return this.onHangupStart(ev, time);
      case 'CHANNEL_HANGUP_COMPLETE':
        return this.onHangup(ev, time);
      case 'RECORD_START': {
        // record_session / uuid_record: the recording's file, as calls.recording_url's {{recording_file}}
        const leg = this.legOf(ev);
        const file = str(ev['Record-File-Path']);
        if (!leg || !file) return [];
        return [{ kind: 'leg.update', time, pbxEvent: name, callId: leg.info.callId, legId: leg.id, recording: file }];
      }
      case 'CUSTOM':
        if (str(ev['Event-Subclass']) === 'callcenter::info') return this.onCallcenter(ev, time);
        this.stats.ignored++;
        return [];
      default:
        this.stats.ignored++;
        return [];
    }
  }

  /** Rows of `api show channels as json` -> a resync signal; also re-seeds the leg table. */
  resync(rows: unknown[], time: number): Resync {
    const live: Resync['live'] = [];
    const seen = new Set<string>();
    for (const r of rows) {
      if (r === null || typeof r !== 'object') continue;
      const row = r as Record<string, unknown>;
      const legId = str(row.uuid);
      const channel = str(row.name);
      if (!legId || !channel) continue;
      const inbound = str(row.direction) === 'inbound';
      const callId = str(row.call_uuid) || legId;
      const cs = str(row.callstate);
      const answered = cs === 'ACTIVE' || cs === 'HELD' || cs === 'UNHELD' || cs === 'RING_WAIT';
      seen.add(legId);
      const known = this.legs.get(legId);
      if (known) {
        known.answered ||= answered;
      } else {
        this.remember(legId, {
          callId,
          inbound,
          parent: null,
          answered,
          rang: !inbound && cs === 'RINGING',
          held: cs === 'HELD',
          ended: false,
        });
      }
      live.push({
        callId: known?.callId ?? callId,
        legId,
        channel,
        endpoint: endpointOfChannel(channel),
        number: inbound ? orNull(str(row.cid_num)) : orNull(str(row.callee_num)) ?? orNull(str(row.dest)),
        name: inbound ? orNull(str(row.cid_name)) : calleeName(str(row.callee_name)),
        exten: orNull(str(row.dest)),
        answered,
        ringing: cs === 'RINGING' || cs === 'EARLY',
        helper: channel.startsWith('loopback/'),
      });
    }
    for (const id of [...this.legs.keys()]) if (!seen.has(id)) this.legs.delete(id);
    for (const id of [...this.stays.keys()]) if (!seen.has(id)) this.stays.delete(id);
    return { kind: 'resync', time, pbxEvent: 'show channels', live };
  }

  // --- channel events -----------------------------------------------------------------

  private onCreate(ev: Ev, time: number): Signal[] {
    const legId = str(ev['Unique-ID']);
    const channel = str(ev['Channel-Name']);
    if (!legId || !channel) {
      this.stats.malformed++;
      return [];
    }
    if (this.legs.has(legId)) return [];
    const inbound = str(ev['Call-Direction']) === 'inbound';
    const ccMember = str(ev.variable_cc_member_session_uuid);
    const ccAgentLeg = !inbound && str(ev.variable_cc_side) === 'agent' && ccMember !== '';
    // a loopback B leg comes into the dialplan as a new inbound call with its own call UUID:
    // its parent is its A leg, so the endpoint it dials joins the call the ring group serves
    const loopbackA = str(ev.variable_loopback_leg) === 'B' ? str(ev.variable_other_loopback_leg_uuid) : '';
    const parent = str(ev['Other-Leg-Unique-ID']) || loopbackA || (ccAgentLeg ? ccMember : '') || null;
    const ownCallUuid = str(ev['Channel-Call-UUID']);
    let callId: string;
    const parentInfo = parent ? this.legs.get(parent) : undefined;
    // (a B leg's CHANNEL_CREATE can come before its A leg's: the call it serves is the one its
    // A leg came from, variable_other_loopback_from_uuid)
    const loopbackFrom = loopbackA && !parentInfo ? str(ev.variable_other_loopback_from_uuid) : '';
    if (parentInfo) callId = parentInfo.callId;
    else if (loopbackFrom) callId = this.legs.get(loopbackFrom)?.callId ?? loopbackFrom;
    else if (parent) callId = ownCallUuid && ownCallUuid !== legId ? ownCallUuid : parent;
    else callId = ownCallUuid || legId;

    this.remember(legId, { callId, inbound, parent, answered: false, rang: false, held: false, ended: false, partner: parent, endpoint: endpointOfChannel(channel) });

    // an originated leg's destination is itself; what it dials comes with the bridge leg
    const exten = !inbound && !parent ? null : orNull(str(ev['Caller-Destination-Number']));
    const out: Signal[] = [
      {
        kind: 'leg.created',
        time,
        pbxEvent: 'CHANNEL_CREATE',
        callId,
        legId,
        channel,
        endpoint: endpointOfChannel(channel),
        number: inbound ? orNull(str(ev['Caller-Caller-ID-Number'])) : orNull(str(ev['Caller-Callee-ID-Number'])) ?? exten,
        name: inbound ? orNull(str(ev['Caller-Caller-ID-Name'])) : calleeName(str(ev['Caller-Callee-ID-Name'])),
        exten,
        dialplanContext: orNull(str(ev['Caller-Context'])),
        parentLegId: parent,
        helper: channel.startsWith('loopback/'),
      },
    ];
    if (parent) {
      out.push({ kind: 'leg.dialed', time, pbxEvent: 'CHANNEL_CREATE', callId, legId: parent, peerLegId: legId, dialled: exten });
    }
    if (ccAgentLeg) {
      out.push({
        kind: 'queue.offer',
        time,
        pbxEvent: 'CHANNEL_CREATE',
        callId,
        legId: ccMember,
        queue: queueName(str(ev.variable_cc_queue)),
        memberLegId: legId,
        member: orNull(str(ev.variable_cc_agent)),
      });
    }
    return out;
  }

  private onProgress(ev: Ev, pbxEvent: string, time: number): Signal[] {
    const leg = this.legOf(ev);
    if (!leg) return [];
    // an outbound leg rings at its endpoint; an inbound (calling) leg "progresses" when
    // FreeSWITCH relays the callee's 180/183 to it: the caller hears it ring, so its leg rings too
    if (leg.info.rang || leg.info.answered) return [];
    leg.info.rang = true;
    return [{ kind: 'leg.ringing', time, pbxEvent, callId: leg.info.callId, legId: leg.id }];
  }

  private onAnswer(ev: Ev, pbxEvent: string, time: number): Signal[] {
    const leg = this.legOf(ev);
    if (!leg) return [];
    return this.answer(leg.id, leg.info, pbxEvent, time);
  }

  private answer(legId: string, info: LegInfo, pbxEvent: string, time: number): Signal[] {
    if (info.answered || info.ended) return [];
    info.answered = true;
    const out: Signal[] = [{ kind: 'leg.answered', time, pbxEvent, callId: info.callId, legId }];
    if (info.parent) out.push({ kind: 'leg.dial_end', time, pbxEvent, callId: info.callId, legId, status: 'ANSWER' });
    return out;
  }

  private onBridge(ev: Ev, time: number): Signal[] {
    const leg = this.legOf(ev);
    if (!leg) return [];
    const out = this.answer(leg.id, leg.info, 'CHANNEL_BRIDGE', time);
    const otherId = str(ev['Other-Leg-Unique-ID']);
    const other = otherId ? this.legs.get(otherId) : undefined;
    if (other) out.push(...this.answer(otherId, other, 'CHANNEL_BRIDGE', time));
    if (other) {
      leg.info.partner = otherId;
      other.partner = leg.id;
    }
    const stay = this.stays.get(leg.id);
    if (stay) stay.bridged = true;
    return out;
  }

  private onHold(ev: Ev, pbxEvent: string, on: boolean, time: number): Signal[] {
    const leg = this.legOf(ev);
    if (!leg || leg.info.held === on) return [];
    leg.info.held = on;
    return [{ kind: 'leg.hold', time, pbxEvent, callId: leg.info.callId, legId: leg.id, on }];
  }

  private onDtmf(ev: Ev, time: number): Signal[] {
    const leg = this.legOf(ev);
    const digit = str(ev['DTMF-Digit']);
    if (!leg || !digit) {
      if (!digit) this.stats.malformed++;
      return [];
    }
    const last = this.lastDtmf.get(leg.info.callId);
    if (last && last.legId !== leg.id && last.digit === digit && Math.abs(time - last.time) <= DTMF_DUP_WINDOW_MS) {
      return []; // the copy FreeSWITCH relayed to the other leg
    }
    this.lastDtmf.set(leg.info.callId, { legId: leg.id, digit, time });
    const samples = Number(str(ev['DTMF-Duration']));
    const durationMs = str(ev['DTMF-Duration']) !== '' && Number.isFinite(samples) ? Math.round(samples / 8) : null;
    return [{ kind: 'leg.dtmf', time, pbxEvent: 'DTMF', callId: leg.info.callId, legId: leg.id, digit, durationMs }];
  }

  /** CHANNEL_HANGUP: the leg starts hanging up; a caller in a queue has left it now. */
  private onHangupStart(ev: Ev, time: number): Signal[] {
    const legId = str(ev['Unique-ID']);
    const stay = legId ? this.stays.get(legId) : undefined;
    if (!stay) {
      this.stats.ignored++;
      return [];
    }
    return [this.leaveFromHangup(legId, stay, ev, time)];
  }

  private onHangup(ev: Ev, time: number): Signal[] {
    const leg = this.legOf(ev);
    if (!leg || leg.info.ended) return [];
    const { id: legId, info } = leg;
    info.ended = true;
    const out: Signal[] = [];
    const pbxEvent = 'CHANNEL_HANGUP_COMPLETE';

    const stay = this.stays.get(legId);
    if (stay) out.push(this.leaveFromHangup(legId, stay, ev, time));

    const causeName = orNull(str(ev['Hangup-Cause']) || str(ev.variable_hangup_cause));
    // FreeSWITCH's own causes above 127 (ORIGINATOR_CANCEL 487, LOSE_RACE 502...) show up
    // as hangup_cause_q850=16: the shared table keeps them apart; the variable is a fallback
    // for names the table does not know.
    const q850 = Number(str(ev.variable_hangup_cause_q850));
    const cause = causeCode(causeName) ?? (str(ev.variable_hangup_cause_q850) !== '' && Number.isInteger(q850) ? q850 : null);
    if (info.parent && !info.answered) {
      out.push({ kind: 'leg.dial_end', time, pbxEvent, callId: info.callId, legId, status: dialStatus(causeName) });
    }
    const term = Number(str(ev.variable_sip_term_status) || str(ev.variable_sip_invite_failure_status));
    const sipStatus = Number.isInteger(term) && term >= 100 ? term : sipStatusForCause(cause, info.answered);
    out.push({
      kind: 'leg.hangup',
      time,
      pbxEvent,
      callId: info.callId,
      legId,
      cause,
      causeName,
      sipStatus,
      byEndpoint: byEndpoint(str(ev.variable_sip_hangup_disposition)),
    });
    this.legs.delete(legId);
    if (info.parent === null) this.lastDtmf.delete(info.callId);
    return out;
  }

  /**
   * A leg FreeSWITCH transferred carries Caller-Transfer-Source on its events from then on;
   * the first event with a new one is the transfer:
   * - `<epoch>:<uuid>:bl_xfer:<dest>/<context>/<dialplan>`: a blind transfer (REFER,
   *   uuid_transfer, the transfer app) to dest;
   * - `<epoch>:<uuid>:uuid_br:<other leg>`: bridged to a leg of another call, which is how
   *   an attended transfer ends (REFER with Replaces, att_xfer, uuid_bridge): that call is
   *   the consult, and it joins this one.
   * The transferring party is the leg it was bridged to (the one that sent the REFER, or
   * whose call it was).
   */
  private onTransferSource(ev: Ev, source: string, pbxEvent: string, time: number): Signal | null {
    const leg = this.legOf(ev);
    if (!leg || leg.info.transferSource === source) return null;
    leg.info.transferSource = source;
    const m = /^\d+:[^:]*:(bl_xfer|uuid_br):([^/]*)/.exec(source);
    if (!m) return null;
    const by = leg.info.partner ?? leg.info.parent ?? leg.id;
    const base = { kind: 'leg.transfer', time, pbxEvent, callId: leg.info.callId, legId: by, peerLegId: leg.id } as const;
    if (m[1] === 'bl_xfer') return { ...base, transfer: 'blind', target: orNull(m[2]) };
    const target = this.legs.get(m[2]);
    if (!target || target.callId === leg.info.callId) return null;
    const consultId = target.callId;
    for (const [id, info] of this.legs) if (info.callId === consultId && id !== target.partner) info.callId = leg.info.callId;
    return {
      ...base, transfer: 'attended', target: target.endpoint ?? null,
      consult: { callId: consultId, transfererLegId: target.partner ?? null },
    };
  }

  // --- mod_callcenter -------------------------------------------------------------------

  private onCallcenter(ev: Ev, time: number): Signal[] {
    const action = str(ev['CC-Action']);
    switch (action) {
      case 'member-queue-start': {
        const legId = str(ev['CC-Member-Session-UUID']) || str(ev['Unique-ID']);
        if (!legId) {
          this.stats.malformed++;
          return [];
        }
        if (this.stays.has(legId)) return [];
        const callId = this.legs.get(legId)?.callId ?? (str(ev['Channel-Call-UUID']) || legId);
        const queue = queueName(str(ev['CC-Queue']));
        this.stays.set(legId, { callId, queue, joinedAt: time, bridged: false });
        return [{ kind: 'queue.join', time, pbxEvent: action, callId, legId, queue, position: null }];
      }
      case 'bridge-agent-start': {
        const agentLeg = str(ev['CC-Agent-UUID']) || str(ev['Unique-ID']);
        const member = str(ev['CC-Member-Session-UUID']);
        const stay = member ? this.stays.get(member) : undefined;
        const info = agentLeg ? this.legs.get(agentLeg) : undefined;
        const out = info ? this.answer(agentLeg, info, action, time) : [];
        if (stay && member) {
          // the caller leaves the queue when an agent is bridged to it, as Asterisk's
          // QueueCallerLeave: the QUEUE stay ends here, not at the caller's hangup
          this.stays.delete(member);
          out.push({
            kind: 'queue.leave', time, pbxEvent: action, callId: stay.callId, legId: member, queue: stay.queue,
            disposition: 'answered', position: null, waitSeconds: Math.round((time - stay.joinedAt) / 1000),
          });
        }
        return out;
      }
      case 'member-queue-end': {
        const legId = str(ev['CC-Member-Session-UUID']) || str(ev['Unique-ID']);
        const stay = legId ? this.stays.get(legId) : undefined;
        if (!stay) return []; // already closed by the caller's hangup
        this.stays.delete(legId);
        const cause = str(ev['CC-Cause']);
        const joined = Number(str(ev['CC-Member-Joined-Time']));
        const until = Number(str(ev['CC-Agent-Answered-Time']) || str(ev['CC-Member-Leaving-Time']));
        return [
          {
            kind: 'queue.leave',
            time,
            pbxEvent: action,
            callId: stay.callId,
            legId,
            queue: stay.queue,
            disposition: disposition(cause, str(ev['CC-Cancel-Reason']), stay.bridged),
            position: null,
            waitSeconds: joined > 0 && until >= joined ? until - joined : Math.round((time - stay.joinedAt) / 1000),
          },
        ];
      }
      case 'bridge-agent-end': {
        // the agent's queue call ended: its wrap-up starts (the agent's wrap-up-time)
        const member = str(ev['CC-Agent']);
        if (!member) {
          this.stats.malformed++;
          return [];
        }
        const caller = str(ev['CC-Member-Session-UUID']);
        return [{
          kind: 'agent.call_end', time, pbxEvent: action, callId: this.legs.get(caller)?.callId ?? orNull(caller),
          queue: orNull(str(ev['CC-Queue'])), member, memberName: null, wrapupSeconds: null,
        }];
      }
      case 'agent-status-change':
        return this.onAgentStatus(ev, time);
      default:
        // agent-offering (the agent leg's CHANNEL_CREATE carries the link), members-count,
        // agent-state-change, bridge-agent-fail (the agent leg's hangup covers them)
        this.stats.ignored++;
        return [];
    }
  }

  private leaveFromHangup(legId: string, stay: QueueStay, ev: Ev, time: number): QueueLeave {
    this.stays.delete(legId);
    const joined = Number(str(ev.variable_cc_queue_joined_epoch));
    const until = Number(str(ev.variable_cc_queue_answered_epoch) || str(ev.variable_cc_queue_canceled_epoch));
    return {
      kind: 'queue.leave',
      time,
      pbxEvent: str(ev['Event-Name']) || 'CHANNEL_HANGUP_COMPLETE',
      callId: stay.callId,
      legId,
      queue: stay.queue,
      disposition: disposition(str(ev.variable_cc_cause), str(ev.variable_cc_cancel_reason), stay.bridged),
      position: null,
      waitSeconds: joined > 0 && until >= joined ? until - joined : Math.round((time - stay.joinedAt) / 1000),
    };
  }

  private onAgentStatus(ev: Ev, time: number): Signal[] {
    const member = str(ev['CC-Agent']);
    const status = str(ev['CC-Agent-Status']);
    if (!member || !status) {
      this.stats.malformed++;
      return [];
    }
    const prev = this.agentStatus.get(member);
    this.agentStatus.set(member, status);
    let action: 'login' | 'logout' | 'paused' | 'unpaused';
    if (status === 'Logged Out') action = 'logout';
    else if (status === 'On Break') action = 'paused';
    else if (status.startsWith('Available')) action = prev === 'On Break' ? 'unpaused' : 'login';
    else {
      this.stats.ignored++;
      return [];
    }
    if (prev === status) return [];
    return [
      {
        kind: 'agent.status',
        time,
        pbxEvent: 'agent-status-change',
        action,
        queue: orNull(str(ev['CC-Queue'])),
        member,
        memberName: null,
        reason: status,
      },
    ];
  }

  // --- helpers ----------------------------------------------------------------------------

  /** the leg an event is about; legs created before we connected are adopted */
  private legOf(ev: Ev): { id: string; info: LegInfo } | null {
    const id = str(ev['Unique-ID']);
    if (!id) {
      this.stats.malformed++;
      return null;
    }
    let info = this.legs.get(id);
    if (!info) {
      const inbound = str(ev['Call-Direction']) === 'inbound';
      const other = str(ev['Other-Leg-Unique-ID']);
      const callUuid = str(ev['Channel-Call-UUID']) || id;
      info = {
        callId: this.legs.get(other)?.callId ?? callUuid,
        inbound,
        parent: inbound ? null : other || null,
        answered: str(ev['Answer-State']) === 'answered',
        rang: false,
        held: false,
        ended: false,
      };
      this.remember(id, info);
    }
    return { id, info };
  }

  private remember(id: string, info: LegInfo): void {
    id = own(id);
    info.callId = own(info.callId);
    if (this.legs.size >= MAX_LEGS) {
      const oldest = this.legs.keys().next().value;
      if (oldest !== undefined) this.legs.delete(oldest);
    }
    this.legs.set(id, info);
  }
}

/** Event-Date-Timestamp (microseconds) -> epoch ms */
function eventTime(ev: Ev): number | null {
  return wireTime(Number(str(ev['Event-Date-Timestamp'])) / 1000);
}

/** sofia/internal/1001@10.0.0.1:5060 -> sofia/internal/1001 */
export function endpointOfChannel(channel: string): string {
  const at = channel.indexOf('@');
  return at === -1 ? channel : channel.slice(0, at);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function orNull(s: string): string | null {
  return s === '' ? null : s;
}

/** FreeSWITCH fills the callee name of an outbound leg with a placeholder */
function calleeName(s: string): string | null {
  return s === '' || s === 'Outbound Call' ? null : s;
}

function queueName(s: string): string {
  // mod_callcenter names queues `name@domain` in some configs; the captures use plain names
  return s;
}

/** recv_* = the endpoint sent BYE / CANCEL / a final error itself */
function byEndpoint(disposition: string): boolean | null {
  if (disposition.startsWith('recv_')) return true;
  if (disposition.startsWith('send_')) return false;
  return null;
}

/** How a dial attempt that was not answered ended, in Asterisk DialStatus terms. */
export function dialStatus(causeName: string | null): string {
  switch (causeName) {
    case 'NO_ANSWER':
    case 'NO_USER_RESPONSE':
    case 'ALLOTTED_TIMEOUT':
    case 'PROGRESS_TIMEOUT':
      return 'NOANSWER';
    case 'USER_BUSY':
    case 'CALL_REJECTED':
      return 'BUSY';
    case 'UNALLOCATED_NUMBER':
    case 'NO_ROUTE_DESTINATION':
    case 'USER_NOT_REGISTERED':
    case 'SUBSCRIBER_ABSENT':
    case 'DESTINATION_OUT_OF_ORDER':
    case 'INVALID_NUMBER_FORMAT':
      return 'CHANUNAVAIL';
    case 'NORMAL_CIRCUIT_CONGESTION':
    case 'SWITCH_CONGESTION':
    case 'NORMAL_TEMPORARY_FAILURE':
    case 'NETWORK_OUT_OF_ORDER':
    case 'RECOVERY_ON_TIMER_EXPIRE':
    case 'INCOMPATIBLE_DESTINATION':
      return 'CONGESTION';
    default:
      // ORIGINATOR_CANCEL, LOSE_RACE, PICKED_OFF, NORMAL_CLEARING, MANAGER_REQUEST...:
      // the dialling side gave up, not the endpoint's own ring
      return 'CANCEL';
  }
}

function disposition(ccCause: string, cancelReason: string, bridged: boolean): QueueLeave['disposition'] {
  const c = ccCause.toLowerCase();
  if (c === 'terminated' || c === 'answered') return 'answered';
  if (c === 'cancel') {
    if (cancelReason === 'TIMEOUT' || cancelReason === 'NO_AGENT_TIMEOUT') return 'timeout';
    if (cancelReason === 'EXIT_WITH_KEY') return null;
    return 'abandoned';
  }
  return bridged ? 'answered' : 'abandoned';
}
