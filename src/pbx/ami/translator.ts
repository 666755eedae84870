/**
 * Asterisk AMI events -> normalized call signals. Keeps the little per-connection memory
 * the real event streams require (see test/fixtures/asterisk and the capture README):
 * - only the side that sent BYE/CANCEL gets HangupRequest, so it tells who hung up;
 * - a queue timeout also emits QueueCallerAbandon: only an abandon preceded by the
 *   caller's own HangupRequest is an abandon, otherwise it is a timeout;
 * - a losing member's DialEnd CANCEL comes twice (the tracker keeps the first status);
 * - an abandon by BYE carries cause 0 (the disposition, not the cause, says abandoned);
 * - DTMF relayed to the bridged peer shows up as Direction: Sent, and is not a key press;
 *   nor is a digit with DurationMs 0, which the PBX queued itself (AMI Atxfer's feature code).
 */
import type { AmiMessage } from './framer.js';
import { causeName } from '../../calls/causes.js';
import { endpointOf, wireTime, type Resync, type Signal } from '../../calls/signals.js';

/** The AMI events the translator reads; the rest of the stream can be skipped unparsed. */
export const AMI_EVENTS_USED: ReadonlySet<string> = new Set([
  'Newchannel', 'Newstate', 'DialBegin', 'DialEnd', 'AgentRingNoAnswer', 'BridgeEnter', 'Hold', 'Unhold', 'DTMFEnd',
  'HangupRequest', 'Hangup', 'QueueCallerJoin', 'AgentCalled', 'QueueCallerAbandon', 'QueueCallerLeave',
  'QueueMemberAdded', 'QueueMemberRemoved', 'QueueMemberPause', 'AgentLogin', 'AgentLogoff', 'VarSet',
  'DialState', 'BlindTransfer', 'AttendedTransfer', 'AgentComplete', 'QueueMemberStatus',
]);

export interface AmiTranslatorOptions {
  /** channel variables to keep on legs (e.g. the recording file variable) */
  keepVariables?: string[];
}

export class AmiTranslator {
  /** channels whose endpoint sent BYE/CANCEL (HangupRequest seen) */
  private readonly hangupRequested = new Set<string>();
  /** callers in a queue: uniqueid -> { answered, abandon } */
  private readonly inQueue = new Map<string, { answered: boolean; abandon: { position: number | null; hold: number | null } | null }>();
  private keep: Set<string>;
  /** queue members' own wrap-up times (s), from their Wrapuptime (0: the queue's applies) */
  private readonly memberWrapup = new Map<string, number>();
  /** messages that looked like call events but lacked the fields they need */
  malformed = 0;

  constructor(opts: AmiTranslatorOptions = {}) {
    this.keep = new Set(opts.keepVariables ?? []);
  }

  /** the channel variables to keep from now on (a reload) */
  keepVariables(names: string[]): void {
    this.keep = new Set(names);
  }

  translate(m: AmiMessage, receivedAt: number): Signal[] {
    const event = m.Event;
    if (event === undefined) return NONE;
    const time = (m.Timestamp ? wireTime(Math.round(Number(m.Timestamp) * 1000)) : null) ?? receivedAt;
    switch (event) {
      case 'Newchannel': {
        if (!m.Uniqueid || !m.Channel) return this.bad();
        return [
          {
            kind: 'leg.created',
            time,
            pbxEvent: event,
            callId: m.Linkedid || m.Uniqueid,
            legId: m.Uniqueid,
            channel: m.Channel,
            endpoint: endpointOf(m.Channel),
            number: known(m.CallerIDNum),
            name: known(m.CallerIDName),
            exten: m.Exten && m.Exten !== 's' ? m.Exten : null,
            dialplanContext: known(m.Context),
            helper: isHelper(m.Channel),
          },
        ];
      }
      case 'Newstate': {
        if (!m.Uniqueid) return this.bad();
        const leg = { time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid };
        if (m.ChannelState === '5') return [{ kind: 'leg.ringing', ...leg }];
        if (m.ChannelState === '6') return [{ kind: 'leg.answered', ...leg }];
        return NONE;
      }
      case 'DialBegin': {
        // Originate: the first leg's DialBegin has no Channel (nobody dialled it)
        if (!m.Uniqueid || !m.DestUniqueid) return NONE;
        return [
          { kind: 'leg.dialed', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, peerLegId: m.DestUniqueid, dialled: dialledNumber(m.DialString) },
        ];
      }
      case 'BlindTransfer': {
        // a REFER (or the blind-transfer feature): the transferer hands its peer to an extension
        if (m.Result !== 'Success' || !m.TransfererUniqueid) return NONE;
        return [{
          kind: 'leg.transfer', time, pbxEvent: event, callId: m.TransfereeLinkedid ?? m.TransfererLinkedid, legId: m.TransfererUniqueid,
          transfer: 'blind', peerLegId: m.TransfereeUniqueid ?? null, target: known(m.Extension),
        }];
      }
      case 'AttendedTransfer': {
        // the transferer consulted someone, then joined its first call's peer to them
        if (m.Result !== 'Success' || !m.OrigTransfererUniqueid) return NONE;
        return [{
          kind: 'leg.transfer', time, pbxEvent: event, callId: m.OrigTransfererLinkedid, legId: m.OrigTransfererUniqueid,
          transfer: 'attended', peerLegId: m.TransfereeUniqueid ?? null,
          // (Atxfer's may name no target at all: the tracker then finds the party reached)
          target: m.TransferTargetChannel ? endpointOf(m.TransferTargetChannel) : null,
          targetLegId: m.TransferTargetUniqueid ?? null,
          consult: m.SecondTransfererLinkedid ? { callId: m.SecondTransfererLinkedid, transfererLegId: m.SecondTransfererUniqueid ?? null } : null,
        }];
      }
      case 'DialState': {
        // the far end's 180/183 reaches the calling channel: its leg rings too (an agent dialling out)
        if (!m.Uniqueid || (m.DialStatus !== 'RINGING' && m.DialStatus !== 'PROGRESS')) return NONE;
        return [{ kind: 'leg.ringing', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid }];
      }
      case 'DialEnd': {
        if (!m.DestUniqueid || !m.DialStatus) return this.bad();
        const q = m.Uniqueid ? this.inQueue.get(m.Uniqueid) : undefined;
        if (q && m.DialStatus === 'ANSWER') q.answered = true;
        return [{ kind: 'leg.dial_end', time, pbxEvent: event, callId: m.DestLinkedid, legId: m.DestUniqueid, status: m.DialStatus }];
      }
      case 'AgentRingNoAnswer':
        if (!m.DestUniqueid) return NONE;
        return [{ kind: 'leg.dial_end', time, pbxEvent: event, callId: m.DestLinkedid, legId: m.DestUniqueid, status: 'NOANSWER' }];
      case 'BridgeEnter':
        if (!m.Uniqueid) return this.bad();
        return [{ kind: 'leg.answered', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid }];
      case 'Hold':
      case 'Unhold':
        if (!m.Uniqueid) return this.bad();
        return [{ kind: 'leg.hold', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, on: event === 'Hold' }];
      case 'DTMFEnd': {
        if (!m.Uniqueid || !m.Digit) return this.bad();
        if (m.Direction !== 'Received') return NONE; // the PBX relaying the digit to the peer
        // a digit the PBX queued on the channel itself (AMI Atxfer plays its feature code and
        // the extension, *2101, this way) has no duration: nobody pressed a key
        if (m.DurationMs === '0') return NONE;
        const ms = Number(m.DurationMs);
        return [{ kind: 'leg.dtmf', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, digit: m.Digit, durationMs: Number.isFinite(ms) ? ms : null }];
      }
      case 'HangupRequest':
        if (m.Uniqueid) this.hangupRequested.add(m.Uniqueid);
        return NONE;
      case 'Hangup': {
        if (!m.Uniqueid) return this.bad();
        const cause = m.Cause !== undefined && m.Cause !== '' && Number.isFinite(Number(m.Cause)) ? Number(m.Cause) : null;
        const byEndpoint = this.hangupRequested.delete(m.Uniqueid);
        this.inQueue.delete(m.Uniqueid);
        return [
          { kind: 'leg.hangup', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, cause, causeName: causeName(cause), sipStatus: null, byEndpoint },
        ];
      }
      case 'QueueCallerJoin':
        if (!m.Uniqueid || !m.Queue) return this.bad();
        this.inQueue.set(m.Uniqueid, { answered: false, abandon: null });
        return [{ kind: 'queue.join', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, queue: m.Queue, position: num(m.Position) }];
      case 'AgentCalled':
        if (!m.Uniqueid || !m.Queue) return this.bad();
        return [
          { kind: 'queue.offer', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, queue: m.Queue, memberLegId: m.DestUniqueid ?? null, member: m.Interface ?? null },
        ];
      case 'QueueCallerAbandon': {
        const q = m.Uniqueid ? this.inQueue.get(m.Uniqueid) : undefined;
        if (q) q.abandon = { position: num(m.OriginalPosition) ?? num(m.Position), hold: num(m.HoldTime) };
        return NONE;
      }
      case 'QueueCallerLeave': {
        if (!m.Uniqueid || !m.Queue) return this.bad();
        const q = this.inQueue.get(m.Uniqueid);
        this.inQueue.delete(m.Uniqueid);
        let disposition: 'answered' | 'abandoned' | 'timeout' | null = null;
        if (q?.abandon) disposition = this.hangupRequested.has(m.Uniqueid) ? 'abandoned' : 'timeout';
        else if (q?.answered) disposition = 'answered';
        return [
          {
            kind: 'queue.leave',
            time,
            pbxEvent: q?.abandon ? 'QueueCallerAbandon' : event,
            callId: m.Linkedid,
            legId: m.Uniqueid,
            queue: m.Queue,
            disposition,
            position: q?.abandon?.position ?? null,
            waitSeconds: q?.abandon?.hold ?? null,
          },
        ];
      }
      case 'QueueMemberStatus':
        this.noteWrapup(m);
        return NONE;
      case 'AgentComplete': {
        // the member's queue call ended: its wrap-up starts (queues.conf wrapuptime)
        const member = m.Interface || m.StateInterface || m.Location;
        if (!member) return this.bad();
        return [
          {
            kind: 'agent.call_end', time, pbxEvent: event, callId: m.Linkedid || m.Uniqueid || null, queue: m.Queue ?? null,
            member, memberName: known(m.MemberName), wrapupSeconds: this.memberWrapup.get(member) || null,
          },
        ];
      }
      case 'QueueMemberAdded':
      case 'QueueMemberRemoved':
        this.noteWrapup(m);
        return this.agent(event === 'QueueMemberAdded' ? 'login' : 'logout', m, time);
      case 'QueueMemberPause':
        return this.agent(m.Paused === '1' ? 'paused' : 'unpaused', m, time);
      case 'AgentLogin':
      case 'AgentLogoff':
        if (!m.Agent) return this.bad();
        return [
          { kind: 'agent.status', time, pbxEvent: event, action: event === 'AgentLogin' ? 'login' : 'logout', queue: null, member: `Agent/${m.Agent}`, memberName: null, reason: null },
        ];
      case 'VarSet':
        if (!m.Uniqueid || !m.Variable || !this.keep.has(m.Variable)) return NONE;
        return [{ kind: 'leg.update', time, pbxEvent: event, callId: m.Linkedid, legId: m.Uniqueid, vars: { [m.Variable]: m.Value ?? '' } }];
      default:
        return NONE;
    }
  }

  /** CoreShowChannel list (after a (re)connect) -> the resync signal. */
  resync(list: AmiMessage[], time: number): Resync {
    return {
      kind: 'resync',
      time,
      pbxEvent: 'CoreShowChannels',
      live: list
        .filter((c) => c.Uniqueid && c.Channel)
        .map((c) => ({
          callId: c.Linkedid || c.Uniqueid,
          legId: c.Uniqueid,
          channel: c.Channel,
          helper: isHelper(c.Channel),
          endpoint: endpointOf(c.Channel),
          number: known(c.CallerIDNum),
          name: known(c.CallerIDName),
          exten: c.Exten && c.Exten !== 's' ? c.Exten : null,
          answered: c.ChannelState === '6',
          // 4 Ring (the caller hears ringback), 5 Ringing (the endpoint is alerted)
          ringing: c.ChannelState === '4' || c.ChannelState === '5',
        })),
    };
  }

  private agent(action: 'login' | 'logout' | 'paused' | 'unpaused', m: AmiMessage, time: number): Signal[] {
    const member = m.Interface || m.StateInterface || m.Location;
    if (!member) return this.bad();
    return [
      {
        kind: 'agent.status',
        time,
        pbxEvent: m.Event,
        action,
        queue: m.Queue ?? null,
        member,
        memberName: known(m.MemberName),
        reason: action === 'paused' ? known(m.PausedReason) ?? known(m.Reason) : null,
      },
    ];
  }

  private noteWrapup(m: AmiMessage): void {
    const member = m.Interface || m.StateInterface;
    const w = num(m.Wrapuptime);
    if (member && w !== null && w >= 0) this.memberWrapup.set(member, w);
  }

  private bad(): Signal[] {
    this.malformed++;
    return NONE;
  }
}

const NONE: Signal[] = [];

/**
 * A channel snapshot value, or null when Asterisk has none. Snapshot headers (CallerIDName,
 * ConnectedLineName, ...) are C-escaped by the manager (`O\\'Brien`): undone here.
 */
function known(v: string | undefined): string | null {
  if (v === undefined || v === '' || v === '<unknown>') return null;
  return v.includes('\\') ? unescapeC(v) : v;
}

const C_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', f: '\f', v: '\v' };

/** the inverse of Asterisk's ast_escape_c(): \\n, \\t, ... and a backslash before any other character */
export function unescapeC(v: string): string {
  return v.replace(/\\(.)/gs, (_, c: string) => C_ESCAPES[c] ?? c);
}

/** Local/ channels are the dialplan's helpers (ring groups, FreePBX's every extension) */
function isHelper(channel: string): boolean {
  return channel.startsWith('Local/');
}

function num(v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** "+15557654321@external" -> "+15557654321"; "agent1" (a device, not a number) -> null. */
function dialledNumber(dialString: string | undefined): string | null {
  if (!dialString) return null;
  const target = dialString.split('@')[0].replace(/^[A-Za-z]+\//, '');
  return /^\+?[0-9*#]+$/.test(target) ? target : null;
}
