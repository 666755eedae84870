/**
 * The call tracker: groups legs into calls, drives each leg's pure state machine, applies
 * DESIGN §3's rules (contexts, missed, hold, DTMF, queue stays, call.reporting) and turns
 * normalized signals into canonical events. No I/O and no clock: time comes from signals,
 * so the same signals always give the same events (ids included).
 */
import { eventId, iso, secs, timing } from './payload.js';
import { blankEvent, type CallEvent, type Direction, type EventName, type LegState, type QueueInfo} from './events.js';
import { causeName as nameOfCause, sipStatusForCause } from './causes.js';
import { transition, type LegInput } from './leg-machine.js';
import type { LegCreated, LegHangup, LegTransfer, PbxType, Resync, Signal } from './signals.js';
import { activeStay, answeredCallee, firstCallee, isLocal, lastStay, type Call, type Leg, type Stay } from './model.js';
import { fillReporting } from './reporting.js';
import { own } from '../util/own.js';
import { decodeCall, decodeGlobals, encodeCall, encodeGlobals, TRACKER_KEY } from './tracker-state.js';

/** one changed row of a tracker's state: a call's JSON, or null when the call is over */
export interface StateChange {
  key: string;
  state: string | null;
}

export interface TrackerOptions {
  pbx: { name: string; type: PbxType };
  source: 'ami' | 'esl';
  /** true for channels/endpoints of trunks (carriers, gateways) */
  isTrunk?: (channelOrEndpoint: string) => boolean;
  /** legs with no signal for this long are closed as orphans on the next tick (default 4 h) */
  orphanTimeoutMs?: number;
  /** channel variable that holds the recording file (its value becomes the event's recording_url) */
  recordingVariable?: string | null;
  /** IVRs, recognised by the number the call's first leg dialled (and its dialplan context) */
  ivrs?: Array<{ name: string; exten: string; context: string | null }>;
  /** queue wrap-up time for members the PBX gives none of their own (0 = no queue.wrapup) */
  wrapupMs?: number;
  /** keep track of the calls each signal changes, for takeChanges() (the daemon's store) */
  persist?: boolean;
}

/** a member's open wrap-up (queue.wrapup START sent) */
interface Wrapup {
  member: string;
  name: string | null;
  queue: string | null;
  callId: string | null;
  startedAt: number;
  seconds: number;
  /** the daemon's clock when it started (TIMEOUT fires by it live, by PBX times in a replay) */
  since: number | null;
}


/** A DialEnd status that means the endpoint's own ring ended the attempt. */
const OWN_RING_END = new Set(['NOANSWER', 'BUSY', 'CONGESTION', 'CHANUNAVAIL', 'REJECTED']);

/**
 * How long an originating local leg's call.initial may wait for the PBX to route the call
 * (a Dial, a queue, an answer) before it is sent with what is known (see holdInitial).
 */
export const ROUTING_WAIT_MS = 2_000;

export class CallTracker {
  private readonly calls = new Map<string, Call>();
  private readonly legs = new Map<string, Leg>();
  /** originating local legs' call.initial, held until the call is routed (by call id) */
  private readonly heldInitial = new Map<string, { call: Call; ev: CallEvent; since: number | null }>();
  /**
   * The daemon's clock as the last tick told it. Idle times (orphan legs, held call.initial)
   * are measured on it, never against PBX event times, which can be hours off (a replay, a
   * PBX with another clock, timestamps from a backlog).
   */
  private clock: number | null = null;
  /** agent.* events are numbered per agent (agent.member), the key they are delivered in order by */
  private readonly agentSeq = new Map<string, number>();
  /** open wrap-ups, by member */
  private readonly wrapups = new Map<string, Wrapup>();
  /** calls changed since the last takeChanges() (their state is to be written) */
  private readonly dirty = new Set<string>();
  /** the PBX time of the last signal */
  private lastSignalAt: number | null = null;
  /** after a restore: when the PBX was last heard, for the first resync's gone legs */
  private restoredLostAt: number | null = null;
  private opts!: TrackerOptions;
  private isTrunk!: (s: string) => boolean;
  private orphanMs!: number;

  constructor(opts: TrackerOptions) {
    this.configure(opts);
  }

  /**
   * Applies new rules (a config reload): legs created from now on are judged by them (trunks,
   * IVRs), open legs by the orphan timeout and recording variable; calls in progress keep
   * their state. The PBX name and type stay.
   */
  configure(opts: TrackerOptions): void {
    this.opts = this.opts ? { ...opts, pbx: this.opts.pbx, source: this.opts.source, persist: this.opts.persist } : opts;
    this.isTrunk = opts.isTrunk ?? (() => false);
    this.orphanMs = opts.orphanTimeoutMs ?? 4 * 3600_000;
  }

  /** Apply one signal; returns the events it causes, in order. */
  apply(sig: Signal): CallEvent[] {
    // a wrap-up whose time ran out before this PBX event is over before its events
    const out = this.wrapups.size > 0 && sig.kind !== 'tick' ? this.wrapupsDue((w) => sig.time >= w.startedAt + w.seconds * 1000) : [];
    out.push(...this.applySignal(sig));
    if (this.heldInitial.size > 0 && out.length > 0) this.releaseBefore(out);
    if (this.opts.persist) this.noteChanged(sig, out);
    return out;
  }

  /** the calls a signal touched: the ones its legs are in, and every call it gave an event */
  private noteChanged(sig: Signal, out: CallEvent[]): void {
    if (sig.kind !== 'tick') this.lastSignalAt = Math.max(this.lastSignalAt ?? sig.time, sig.time);
    // (its clock, agent sequences, wrap-ups, last signal: one small row)
    this.dirty.add(TRACKER_KEY);
    for (const ev of out) if (ev.call_id !== null) this.dirty.add(ev.call_id);
    const s = sig as Partial<Record<'callId' | 'legId' | 'peerLegId' | 'memberLegId', string | null>>;
    for (const id of [s.legId, s.peerLegId, s.memberLegId]) {
      const callId = id ? this.legs.get(id)?.callId : undefined;
      if (callId) this.dirty.add(callId);
    }
    if (s.callId && this.calls.has(s.callId)) this.dirty.add(s.callId);
  }

  /**
   * What changed since the last call, to be written with the events it caused: each changed
   * call's state (null: it is over, forget it) and the tracker's own row.
   */
  takeChanges(): StateChange[] {
    if (this.dirty.size === 0) return [];
    const out: StateChange[] = [];
    for (const key of this.dirty) {
      if (key === TRACKER_KEY) {
        out.push({
          key,
          state: encodeGlobals({ clock: this.clock, agentSeq: [...this.agentSeq], wrapups: [...this.wrapups.values()], lastSignalAt: this.lastSignalAt }),
        });
        continue;
      }
      const call = this.calls.get(key);
      out.push({ key, state: call ? encodeCall(call, this.heldInitial.get(key)) : null });
    }
    this.dirty.clear();
    return out;
  }

  /**
   * Rebuilds the calls in progress from takeChanges()'s rows (a restart). The first resync
   * then keeps the legs still up and closes the others, as after a reconnect.
   */
  restore(rows: Array<{ key: string; state: string }>): number {
    for (const row of rows) {
      if (row.key === TRACKER_KEY) {
        const g = decodeGlobals<Wrapup>(row.state);
        for (const [member, n] of g.agentSeq) this.agentSeq.set(member, n);
        for (const w of g.wrapups) this.wrapups.set(w.member, w);
        this.lastSignalAt = g.lastSignalAt;
        this.clock = g.clock;
        this.restoredLostAt = g.lastSignalAt;
        continue;
      }
      const { call, held } = decodeCall(row.state);
      this.calls.set(call.id, call);
      // a leg that moved on to another call (attended transfer) is that call's
      for (const leg of call.legs.values()) if (leg.callId === call.id) this.legs.set(leg.id, leg);
      if (held) this.heldInitial.set(call.id, { call, ev: held.ev, since: held.since });
    }
    return this.calls.size;
  }

  private applySignal(sig: Signal): CallEvent[] {
    const out: CallEvent[] = [];
    switch (sig.kind) {
      case 'leg.created':
        this.onCreated(sig, out, false);
        break;
      case 'leg.dialed': {
        const caller = this.touch(sig.legId, sig.time);
        const peer = this.legs.get(sig.peerLegId);
        if (!caller || !peer) break;
        if (!peer.parentId && peer.id !== this.calls.get(peer.callId)?.originatorId) peer.parentId = caller.id;
        const call = this.calls.get(caller.callId);
        if (call && caller.id === call.originatorId) this.endIvr(call, sig.time, sig.pbxEvent, out);
        // the number a trunk was sent is the outside number (without the dial prefix the agent dialled)
        if (call && sig.dialled && (!call.dst || peer.trunk)) call.dst = own(sig.dialled);
        // the PBX has decided where the call goes: the originator's call.initial can say so
        if (call && peer.trunk) this.release(call.id, out);
        const stay = call && activeStay(call, caller.id);
        if (stay && !peer.memberOf) peer.memberOf = stay.queue;
        break;
      }
      case 'leg.ringing':
        this.drive(sig.legId, 'ring', sig, out);
        break;
      case 'leg.answered':
        this.onAnswered(sig, out);
        break;
      case 'leg.hold':
        this.onHold(sig.legId, sig.on, sig, out);
        break;
      case 'leg.dtmf': {
        const leg = this.touch(sig.legId, sig.time);
        const call = leg && this.calls.get(leg.callId);
        if (!leg || !call) break;
        call.digits += sig.digit;
        const ev = this.event(call, leg, 'call.dtmf', 'CALL', sig.time, sig.pbxEvent);
        ev.dtmf = {
          digit: sig.digit,
          pressed_by: leg.id === call.originatorId ? 'caller' : 'callee',
          duration_ms: sig.durationMs,
        };
        out.push(ev);
        break;
      }
      case 'leg.transfer': {
        const leg = this.touch(sig.legId, sig.time);
        const call = leg && this.calls.get(leg.callId);
        if (!leg || !call) break;
        const ev = this.callEvent(call, 'call.transferred', 'CALL', sig.time, sig.pbxEvent, `${leg.id}|transfer`);
        ev.leg_id = leg.id;
        ev.endpoint = leg.endpoint;
        ev.transfer = { kind: sig.transfer, by_leg: leg.id, by_endpoint: leg.endpoint, transferee_leg: sig.peerLegId, to: this.transferTarget(call, sig) };
        timing(ev, call.createdAt, null, null, null, sig.time);
        out.push(ev);
        if (sig.consult) this.joinConsult(call, sig.consult.callId, sig.consult.transfererLegId, sig, out);
        break;
      }
      case 'leg.dial_end': {
        const leg = this.touch(sig.legId, sig.time);
        if (leg && leg.dialEnd === null) leg.dialEnd = sig.status.toUpperCase();
        break;
      }
      case 'leg.hangup':
        this.onHangup(sig, out);
        break;
      case 'leg.update': {
        const leg = this.touch(sig.legId, sig.time);
        if (!leg) break;
        if (sig.vars) Object.assign(leg.vars, ownVars(sig.vars));
        if (sig.recording) leg.recording = own(sig.recording);
        if (sig.number !== undefined && sig.number !== null) leg.number = own(sig.number);
        if (sig.name !== undefined && sig.name !== null) leg.name = own(sig.name);
        break;
      }
      case 'queue.join': {
        const leg = this.touch(sig.legId, sig.time);
        const call = leg && this.calls.get(leg.callId);
        if (!leg || !call) break;
        if (leg.id === call.originatorId) this.endIvr(call, sig.time, sig.pbxEvent, out);
        const stay: Stay = {
          legId: leg.id,
          queue: own(sig.queue),
          state: 'INITIAL',
          joinedAt: sig.time,
          ringingAt: null,
          connectedAt: null,
          endedAt: null,
          position: sig.position,
          waitSeconds: null,
          disposition: null,
          memberLegId: null,
          offered: new Set(),
        };
        call.stays.push(stay);
        out.push(this.stayEvent(call, stay, 'call.initial', null, sig.time, sig.pbxEvent));
        break;
      }
      case 'queue.offer': {
        const caller = this.touch(sig.legId, sig.time);
        const call = caller && this.calls.get(caller.callId);
        const stay = call && caller && activeStay(call, caller.id);
        if (!call || !stay) break;
        if (sig.memberLegId) {
          stay.offered.add(sig.memberLegId);
          const member = this.legs.get(sig.memberLegId);
          if (member && !member.memberOf) member.memberOf = stay.queue;
        }
        const prev = stay.state;
        const t = transition(prev, 'ring');
        if (t.event) {
          stay.state = t.next;
          stay.ringingAt = sig.time;
          out.push(this.stayEvent(call, stay, t.event, prev, sig.time, sig.pbxEvent));
        }
        break;
      }
      case 'queue.leave': {
        const caller = this.touch(sig.legId, sig.time);
        const call = caller && this.calls.get(caller.callId);
        const stay = call && caller && activeStay(call, caller.id);
        if (!call || !stay) break;
        if (sig.position !== null) stay.position = sig.position;
        stay.waitSeconds = sig.waitSeconds;
        this.endStay(call, stay, sig.disposition, sig.time, sig.pbxEvent, out);
        this.maybeFinish(call, sig.time, sig.pbxEvent, out);
        break;
      }
      case 'agent.call_end': {
        // a new queue call finished during wrap-up: that wrap-up ended early
        this.endWrapup(sig.member, 'END', sig.time, sig.pbxEvent, out);
        const seconds = sig.wrapupSeconds ?? (this.opts.wrapupMs ?? 0) / 1000;
        if (seconds <= 0) break;
        const w: Wrapup = { member: sig.member, name: sig.memberName, queue: sig.queue, callId: sig.callId, startedAt: sig.time, seconds, since: this.clock };
        this.wrapups.set(w.member, w);
        out.push(this.wrapupEvent(w, 'START', sig.time, sig.pbxEvent));
        break;
      }
      case 'agent.status': {
        const name = `agent.${sig.action}` as EventName;
        if (sig.action === 'paused' || sig.action === 'logout') this.endWrapup(sig.member, 'END', sig.time, sig.pbxEvent, out);
        out.push({
          ...this.blank(name, 'AGENT', sig.time, sig.pbxEvent, this.nextAgentSeq(sig.member), null, `${sig.member}|${sig.queue}`),
          agent: { member: sig.member, name: sig.memberName, queue: sig.queue, reason: sig.reason },
          queue: sig.queue ? { name: sig.queue, position: null, wait_seconds: null, disposition: null } : null,
          endpoint: sig.member,
        });
        break;
      }
      case 'resync':
        this.onResync(sig, out);
        break;
      case 'tick':
        this.onTick(sig.time, out);
        break;
    }
    return out;
  }

  /** queue.wrapup END / TIMEOUT of the member's open wrap-up, if any */
  private endWrapup(member: string, state: 'END' | 'TIMEOUT', time: number, pbxEvent: string, out: CallEvent[]): void {
    const w = this.wrapups.get(member);
    if (!w) return;
    this.wrapups.delete(member);
    out.push(this.wrapupEvent(w, state, time, pbxEvent));
  }

  /** TIMEOUT of every open wrap-up that is `due`, at the time it ran out */
  private wrapupsDue(due: (w: Wrapup) => boolean): CallEvent[] {
    const out: CallEvent[] = [];
    for (const w of [...this.wrapups.values()]) if (due(w)) this.endWrapup(w.member, 'TIMEOUT', w.startedAt + w.seconds * 1000, 'wrapup timer', out);
    return out;
  }

  private wrapupEvent(w: Wrapup, state: 'START' | 'END' | 'TIMEOUT', time: number, pbxEvent: string): CallEvent {
    const ev = this.blank('queue.wrapup', 'AGENT', time, pbxEvent, this.nextAgentSeq(w.member), null, `${w.member}|wrapup|${w.startedAt}|${state}`);
    ev.agent = { member: w.member, name: w.name, queue: w.queue, reason: null };
    ev.queue = w.queue ? { name: w.queue, position: null, wait_seconds: null, disposition: null } : null;
    ev.endpoint = w.member;
    ev.wrapup = { state, seconds: w.seconds, call_id: w.callId };
    timing(ev, w.startedAt, null, null, state === 'START' ? null : time, time);
    return ev;
  }

  private nextAgentSeq(member: string): number {
    const n = (this.agentSeq.get(member) ?? 0) + 1;
    this.agentSeq.set(member, n);
    return n;
  }

  /** Live calls, for GET /calls and metrics. */
  snapshot(): Array<{ call_id: string; legs: Array<{ leg_id: string; endpoint: string; state: LegState }>; queue: string | null; started_at: string }> {
    return [...this.calls.values()].map((c) => ({
      call_id: c.id,
      started_at: iso(c.createdAt),
      queue: c.stays.length ? c.stays[c.stays.length - 1].queue : null,
      legs: [...c.legs.values()].map((l) => ({ leg_id: l.id, endpoint: l.endpoint, state: l.state })),
    }));
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  get activeLegs(): number {
    return this.legs.size;
  }

  // ---- signal handlers -------------------------------------------------------------

  private onCreated(sig: LegCreated, out: CallEvent[], reconciled: boolean): Leg | null {
    if (this.legs.has(sig.legId)) return null;
    let call = this.calls.get(sig.callId);
    const legId = own(sig.legId);
    if (!call) {
      call = {
        id: own(sig.callId),
        originatorId: legId,
        legs: new Map(),
        stays: [],
        seq: 0,
        digits: '',
        dst: own(sig.exten),
        createdAt: sig.time,
        vars: {},
        originated: false,
        ivr: null,
      };
      this.calls.set(call.id, call);
    }
    // copies of what is kept of the frame (own()), so an open call does not pin its socket read
    const leg: Leg = {
      id: legId,
      callId: call.id,
      channel: own(sig.channel),
      endpoint: own(sig.endpoint),
      number: own(sig.number),
      name: own(sig.name),
      exten: own(sig.exten),
      dialplanContext: own(sig.dialplanContext),
      trunk: this.isTrunk(sig.channel) || this.isTrunk(sig.endpoint),
      helper: sig.helper === true,
      parentId: sig.parentLegId ?? null,
      memberOf: null,
      state: 'INITIAL',
      createdAt: sig.time,
      ringingAt: null,
      connectedAt: null,
      endedAt: null,
      lastSeenClock: this.clock,
      dialEnd: null,
      cause: null,
      causeName: null,
      sipStatus: null,
      byEndpoint: null,
      missed: false,
      vars: ownVars(sig.vars),
      recording: null,
    };
    for (const stay of call.stays) if (stay.offered.has(leg.id)) leg.memberOf = stay.queue;
    call.legs.set(leg.id, leg);
    this.legs.set(leg.id, leg);
    if (isLocal(leg)) {
      const ev = this.event(call, leg, 'call.initial', 'LOCAL_USER', sig.time, sig.pbxEvent);
      if (reconciled) ev.signal.reconciled = true;
      if (leg.id === call.originatorId && !reconciled) this.heldInitial.set(call.id, { call, ev, since: this.clock });
      else out.push(ev);
    }
    return leg;
  }

  /**
   * An agent's own call starts with their leg alone: whether it goes out through a trunk or
   * stays internal is not known yet. Its call.initial is held (with its sequence, 1, and its
   * time) until the PBX routes the call: the first dial to a trunk, or any other event of the
   * call (another leg, a ring, an answer, a queue, a hangup), or ROUTING_WAIT_MS on the
   * daemon's clock. Then its direction and dst are filled in from what is known, so a
   * receiver's first event is already right. A real PBX routes within milliseconds.
   */
  private release(callId: string, out: CallEvent[], at = out.length): void {
    const held = this.heldInitial.get(callId);
    if (!held) return;
    this.heldInitial.delete(callId);
    held.ev.direction = this.direction(held.call);
    held.ev.dst = held.call.dst;
    out.splice(at, 0, held.ev);
  }

  /** puts each held call.initial before the first other event of its call */
  private releaseBefore(out: CallEvent[]): void {
    for (let i = 0; i < out.length; i++) {
      const id = out[i].call_id;
      if (id !== null && this.heldInitial.has(id)) this.release(id, out, i);
    }
  }

  private onAnswered(sig: Signal & { legId: string }, out: CallEvent[]): void {
    const leg = this.drive(sig.legId, 'answer', sig, out);
    if (!leg) return;
    const call = this.calls.get(leg.callId);
    if (call && leg.id === call.originatorId && !call.ivr) this.startIvr(call, leg, sig.time, sig.pbxEvent, out);
    if (!call || !leg.memberOf) return;
    // a queue member answered: the caller's stay in that queue is connected
    const stay = call.stays.find((s) => s.queue === leg.memberOf && s.endedAt === null && s.connectedAt === null);
    if (!stay) return;
    const prev = stay.state;
    const t = transition(prev, 'answer');
    if (!t.event) return;
    stay.state = t.next;
    stay.connectedAt = sig.time;
    stay.memberLegId = leg.id;
    out.push(this.stayEvent(call, stay, t.event, prev, sig.time, sig.pbxEvent));
  }

  private onHold(legId: string, on: boolean, sig: Signal, out: CallEvent[]): void {
    const holder = this.touch(legId, sig.time);
    const call = holder && this.calls.get(holder.callId);
    if (!holder || !call) return;
    // either party's hold puts every connected local leg of the call on hold
    for (const leg of call.legs.values()) {
      if (!isLocal(leg)) continue;
      const prev = leg.state;
      const t = transition(prev, on ? 'hold' : 'unhold');
      if (!t.event) continue;
      leg.state = t.next;
      const ev = this.event(call, leg, t.event, 'LOCAL_USER', sig.time, sig.pbxEvent, prev);
      ev.hold = { by: leg.id === holder.id ? 'local' : 'remote' };
      out.push(ev);
    }
  }

  private onHangup(sig: LegHangup, out: CallEvent[]): void {
    const leg = this.touch(sig.legId, sig.time);
    const call = leg && this.calls.get(leg.callId);
    if (!leg || !call || leg.state === 'HANGUP') return;
    if (leg.id === call.originatorId) this.endIvr(call, sig.time, sig.pbxEvent, out);
    leg.endedAt = sig.time;
    leg.cause = sig.cause;
    leg.causeName = own(sig.causeName) ?? nameOfCause(sig.cause);
    // a reconciled hangup is inferred, not reported: its cause and SIP status are unknown (null)
    leg.sipStatus = sig.reconciled ? null : sig.sipStatus ?? sipStatusForCause(sig.cause, leg.connectedAt !== null);
    // an unanswered leg the PBX gave up on (ring timeout, lost race, caller left) got a CANCEL: 487
    if (!sig.reconciled && leg.sipStatus === null && leg.connectedAt === null && (leg.dialEnd === 'NOANSWER' || leg.dialEnd === 'CANCEL')) leg.sipStatus = 487;
    leg.byEndpoint = sig.byEndpoint;
    leg.missed = this.isMissed(call, leg);
    const prev = leg.state;
    const t = transition(prev, 'hangup');
    leg.state = t.next;
    if (isLocal(leg) && t.event) {
      if (leg.missed) out.push(this.event(call, leg, 'call.missed', 'LOCAL_USER', sig.time, sig.pbxEvent, prev, sig.reconciled));
      out.push(this.event(call, leg, t.event, 'LOCAL_USER', sig.time, sig.pbxEvent, prev, sig.reconciled));
    }
    this.maybeFinish(call, sig.time, sig.pbxEvent, out);
  }

  /**
   * Where a transfer went: what the PBX named, unless it named a helper channel or nothing
   * (Asterisk's Atxfer consults through a Local/ pair, and may name no target; a desk
   * phone's REFER that comes before the consult call is bridged names none either): then
   * the party reached, the newest real leg still up, in the call or in the consult call,
   * that is neither the transferer's endpoint nor the transferee.
   */
  private transferTarget(call: Call, sig: LegTransfer): string | null {
    const target = sig.targetLegId ? this.legs.get(sig.targetLegId) : undefined;
    if (sig.target !== null && !target?.helper) return sig.target;
    const by = this.legs.get(sig.legId)?.endpoint;
    const consult = sig.consult ? this.calls.get(sig.consult.callId) : undefined;
    let reached: Leg | undefined;
    for (const l of [...call.legs.values(), ...(consult?.legs.values() ?? [])]) {
      if (l.helper || l.trunk || l.state === 'HANGUP' || l.id === sig.legId || l.id === sig.peerLegId || l.endpoint === by) continue;
      if (!reached || l.createdAt >= reached.createdAt) reached = l;
    }
    return reached?.endpoint ?? sig.target;
  }

  /**
   * An attended transfer joined the transferee with the consult call: the consult's legs
   * (all but the transferer's, which the PBX hangs up there) leave it, with a call.hangup in
   * the consult call, and enter the transferee's call, connected from now on. So the
   * customer's call id follows the customer, each call's legs begin and end once in it, and
   * the consult stays an internal call of its own.
   */
  private joinConsult(into: Call, consultId: string, transfererLegId: string | null, sig: { time: number; pbxEvent: string }, out: CallEvent[]): void {
    const consult = this.calls.get(consultId);
    if (!consult || consult === into) return;
    for (const leg of [...consult.legs.values()]) {
      if (leg.id === transfererLegId || leg.state === 'HANGUP') continue;
      // it leaves the consult call
      const prev = leg.state;
      leg.endedAt = sig.time;
      leg.state = 'HANGUP';
      if (isLocal(leg)) out.push(this.event(consult, leg, 'call.hangup', 'LOCAL_USER', sig.time, sig.pbxEvent, prev));
      // and joins the customer's call, answered, from the transfer on
      const joined: Leg = {
        ...leg, callId: into.id, parentId: null, memberOf: null, state: 'INITIAL', createdAt: sig.time, ringingAt: null,
        connectedAt: null, endedAt: null, dialEnd: 'ANSWER', missed: false, vars: { ...leg.vars },
      };
      into.legs.set(joined.id, joined);
      this.legs.set(joined.id, joined);
      if (isLocal(joined)) out.push(this.event(into, joined, 'call.initial', 'LOCAL_USER', sig.time, sig.pbxEvent));
      this.drive(joined.id, 'answer', sig, out);
    }
    this.maybeFinish(consult, sig.time, sig.pbxEvent, out);
  }

  private onResync(sig: Resync, out: CallEvent[]): void {
    const live = new Set(sig.live.map((l) => l.legId));
    // a restart: callhook last heard the PBX when it went down
    const lostAt = sig.lostAt ?? this.restoredLostAt ?? sig.time;
    this.restoredLostAt = null;
    for (const leg of [...this.legs.values()]) {
      if (live.has(leg.id)) continue;
      // it ended while callhook could not see it: at the latest when the connection was lost
      this.onHangup(reconciledHangup(leg, Math.max(leg.createdAt, Math.min(lostAt, sig.time))), out);
    }
    for (const l of sig.live) {
      const known = this.legs.get(l.legId);
      if (known) {
        // it went on while callhook could not see it: answered meanwhile
        const before = out.length;
        if (l.answered && known.connectedAt === null) {
          this.drive(known.id, 'ring', { time: sig.time, pbxEvent: sig.pbxEvent }, out);
          this.drive(known.id, 'answer', { time: sig.time, pbxEvent: sig.pbxEvent }, out);
        }
        for (let i = before; i < out.length; i++) out[i].signal.reconciled = true;
        continue;
      }
      const leg = this.onCreated(
        {
          kind: 'leg.created',
          time: sig.time,
          pbxEvent: sig.pbxEvent,
          callId: l.callId,
          legId: l.legId,
          channel: l.channel,
          endpoint: l.endpoint,
          number: l.number,
          name: l.name,
          exten: l.exten,
          dialplanContext: null,
          helper: l.helper,
        },
        out,
        true,
      );
      if (!leg || !(l.answered || l.ringing)) continue;
      // a leg that began while callhook could not see it: it rang before it was answered
      // (a callee is alerted, a caller hears ringback), so a receiver gets its ringing too
      const before = out.length;
      const at = { time: sig.time, pbxEvent: sig.pbxEvent };
      if (l.ringing || leg.id !== this.calls.get(leg.callId)?.originatorId || !leg.trunk) this.drive(leg.id, 'ring', at, out);
      if (l.answered) this.drive(leg.id, 'answer', at, out);
      for (let i = before; i < out.length; i++) out[i].signal.reconciled = true;
    }
  }

  private onTick(now: number, out: CallEvent[]): void {
    this.clock = now;
    out.push(...this.wrapupsDue((w) => {
      w.since ??= now;
      return now - w.since >= w.seconds * 1000;
    }));
    for (const [id, held] of [...this.heldInitial]) {
      held.since ??= now;
      if (now - held.since >= ROUTING_WAIT_MS) this.release(id, out);
    }
    for (const leg of [...this.legs.values()]) {
      leg.lastSeenClock ??= now;
      if (now - leg.lastSeenClock >= this.orphanMs) this.onHangup(reconciledHangup(leg, now), out);
    }
  }

  // ---- rules ---------------------------------------------------------------------

  /** DESIGN §3 "Missed, precisely". */
  private isMissed(call: Call, leg: Leg): boolean {
    if (leg.connectedAt !== null || leg.id === call.originatorId || !isLocal(leg)) return false;
    if (leg.memberOf) {
      // a queue member's leg: only when its own ring ended it (timeout, busy, rejected)
      return (leg.dialEnd !== null && OWN_RING_END.has(leg.dialEnd)) || leg.byEndpoint === true;
    }
    // a direct leg: unless another leg of the call answered (lost the race)
    for (const other of call.legs.values()) {
      if (other !== leg && other.id !== call.originatorId && other.connectedAt !== null) return false;
    }
    return true;
  }

  private startIvr(call: Call, leg: Leg, time: number, pbxEvent: string, out: CallEvent[]): void {
    const ivr = this.opts.ivrs?.find((i) => i.exten === leg.exten && (i.context === null || i.context === leg.dialplanContext));
    if (!ivr) return;
    call.ivr = { name: ivr.name, startedAt: time, digitsFrom: call.digits.length, open: true };
    out.push(this.ivrEvent(call, 'ivr.start', time, pbxEvent));
  }

  private endIvr(call: Call, time: number, pbxEvent: string, out: CallEvent[]): void {
    if (!call.ivr?.open) return;
    call.ivr.open = false;
    out.push(this.ivrEvent(call, 'ivr.end', time, pbxEvent));
  }

  private ivrEvent(call: Call, name: EventName, time: number, pbxEvent: string): CallEvent {
    const ivr = call.ivr!;
    const orig = call.legs.get(call.originatorId)!;
    const ev = this.callEvent(call, name, 'IVR', time, pbxEvent, `${orig.id}|ivr|${ivr.startedAt}`);
    ev.leg_id = orig.id;
    ev.endpoint = orig.endpoint;
    ev.ivr = { name: ivr.name, digits: call.digits.slice(ivr.digitsFrom) };
    timing(ev, ivr.startedAt, null, null, ivr.open ? null : time, time);
    return ev;
  }

  private endStay(call: Call, stay: Stay, disposition: QueueInfo['disposition'], time: number, pbxEvent: string, out: CallEvent[]): void {
    if (stay.endedAt !== null) return;
    stay.disposition = disposition ?? (stay.connectedAt !== null ? 'answered' : 'abandoned');
    if (stay.waitSeconds === null) stay.waitSeconds = secs((stay.connectedAt ?? time) - stay.joinedAt);
    stay.endedAt = time;
    const prev = stay.state;
    const t = transition(prev, 'hangup');
    stay.state = t.next;
    if (stay.connectedAt === null) out.push(this.stayEvent(call, stay, 'call.missed', prev, time, pbxEvent));
    if (t.event) out.push(this.stayEvent(call, stay, t.event, prev, time, pbxEvent));
  }

  /** After the last leg and stay of a call ended: call.reporting, then forget the call. */
  private maybeFinish(call: Call, time: number, pbxEvent: string, out: CallEvent[]): void {
    for (const leg of call.legs.values()) if (leg.state !== 'HANGUP') return;
    for (const stay of call.stays) if (stay.endedAt === null) this.endStay(call, stay, null, time, pbxEvent, out);
    out.push(this.reporting(call, time, pbxEvent));
    // (a leg that moved on to another call by an attended transfer lives on there)
    for (const [id, leg] of call.legs) if (this.legs.get(id) === leg) this.legs.delete(id);
    this.calls.delete(call.id);
  }

  private drive(legId: string, input: LegInput, sig: { time: number; pbxEvent: string }, out: CallEvent[]): Leg | null {
    const leg = this.touch(legId, sig.time);
    const call = leg && this.calls.get(leg.callId);
    if (!leg || !call) return null;
    const prev = leg.state;
    const t = transition(prev, input);
    if (!t.event) return leg;
    leg.state = t.next;
    if (input === 'ring' && leg.ringingAt === null) {
      leg.ringingAt = sig.time;
      // the PBX rang the call's first leg before it dialled anyone: an originated call (AMI Originate, click-to-call)
      if (leg.id === call.originatorId && call.legs.size === 1) call.originated = true;
    }
    if (input === 'answer' && leg.connectedAt === null) leg.connectedAt = sig.time;
    if (isLocal(leg)) out.push(this.event(call, leg, t.event, 'LOCAL_USER', sig.time, sig.pbxEvent, prev));
    return leg;
  }

  private touch(legId: string, _time?: number): Leg | undefined {
    const leg = this.legs.get(legId);
    if (leg) leg.lastSeenClock = this.clock;
    return leg;
  }

  // ---- payloads ------------------------------------------------------------------

  private direction(call: Call): Direction {
    const orig = call.legs.get(call.originatorId);
    if (orig?.trunk) return 'in';
    for (const leg of call.legs.values()) if (leg.trunk) return 'out';
    return 'internal';
  }

  private blank(
    name: EventName,
    context: CallEvent['context'],
    time: number,
    pbxEvent: string,
    sequence: number,
    callId: string | null,
    key: string,
  ): CallEvent {
    const { pbx, source } = this.opts;
    return blankEvent({
      id: eventId(pbx.name, callId, key, name, sequence, time),
      event_name: name,
      event_time: iso(time),
      sequence,
      call_id: callId,
      context,
      pbx: { name: pbx.name, type: pbx.type },
      signal: { source, event: pbxEvent },
    });
  }

  /** Fields every call-scoped event shares: numbers, direction, digits, recording. */
  private callEvent(call: Call, name: EventName, context: CallEvent['context'], time: number, pbxEvent: string, key: string): CallEvent {
    const ev = this.blank(name, context, time, pbxEvent, ++call.seq, call.id, key);
    const orig = call.legs.get(call.originatorId);
    ev.direction = this.direction(call);
    ev.src = orig?.number ?? null;
    ev.src_name = orig?.name ?? null;
    ev.dst = call.dst;
    const callee = answeredCallee(call) ?? firstCallee(call);
    ev.dst_name = callee?.name ?? null;
    ev.digits = call.digits;
    ev.recording_url = this.recordingUrl(call);
    return ev;
  }

  private event(
    call: Call,
    leg: Leg,
    name: EventName,
    context: CallEvent['context'],
    time: number,
    pbxEvent: string,
    prev: LegState | null = null,
    reconciled = false,
  ): CallEvent {
    const ev = this.callEvent(call, name, context, time, pbxEvent, leg.id);
    if (leg.id !== call.originatorId && !leg.trunk) ev.dst_name = leg.name ?? ev.dst_name;
    ev.leg_id = leg.id;
    ev.endpoint = leg.endpoint;
    ev.state = context === 'CALL' ? null : leg.state;
    ev.previous_state = context === 'CALL' ? null : prev;
    const queue = leg.memberOf ?? lastStay(call, leg.id)?.queue ?? null;
    if (queue) ev.queue = { name: queue, position: null, wait_seconds: null, disposition: null };
    timing(ev, leg.createdAt, leg.ringingAt, leg.connectedAt, leg.endedAt, time);
    if (leg.endedAt !== null) {
      ev.hangup_cause = leg.causeName;
      ev.hangup_cause_code = leg.cause;
      ev.sip_status = leg.sipStatus;
    }
    if (reconciled) ev.signal.reconciled = true;
    return ev;
  }

  private stayEvent(call: Call, stay: Stay, name: EventName, prev: LegState | null, time: number, pbxEvent: string): CallEvent {
    const ev = this.callEvent(call, name, 'QUEUE', time, pbxEvent, `${stay.legId}|${stay.queue}`);
    const member = stay.memberLegId ? call.legs.get(stay.memberLegId) : undefined;
    ev.leg_id = stay.legId;
    ev.endpoint = member?.endpoint ?? null;
    if (member) ev.dst_name = member.name;
    ev.state = stay.state;
    ev.previous_state = prev;
    ev.queue = { name: stay.queue, position: stay.position, wait_seconds: stay.waitSeconds, disposition: stay.disposition };
    timing(ev, stay.joinedAt, stay.ringingAt, stay.connectedAt, stay.endedAt, time);
    return ev;
  }

  private reporting(call: Call, time: number, pbxEvent: string): CallEvent {
    const ev = this.callEvent(call, 'call.reporting', 'CALL', time, pbxEvent, 'reporting');
    return fillReporting(ev, call, time, (leg) => this.legRecording(leg) ?? ev.recording_url);
  }

  /** the recording the PBX reported for the call (its file path), or null when it was not recorded */
  private recordingUrl(call: Call): string | null {
    for (const leg of call.legs.values()) {
      const file = this.legRecording(leg);
      if (file) return file;
    }
    return null;
  }

  private legRecording(leg: Leg): string | null {
    const variable = this.opts.recordingVariable;
    return leg.recording ?? (variable ? leg.vars[variable] || null : null);
  }
}

// ---- helpers ---------------------------------------------------------------------

function ownVars(vars: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (vars) for (const [k, v] of Object.entries(vars)) out[own(k)] = own(v);
  return out;
}

function reconciledHangup(leg: Leg, time: number): LegHangup {
  return {
    kind: 'leg.hangup',
    time,
    pbxEvent: 'resync',
    callId: leg.callId,
    legId: leg.id,
    cause: null,
    causeName: null,
    sipStatus: null,
    byEndpoint: null,
    reconciled: true,
  };
}
