/**
 * What a call tracker knows, as JSON text, so calls in progress survive a crash: the
 * tracker writes each changed call (and its own few per-PBX maps) in the same store
 * transaction as the events that changed it, and is rebuilt from them at start. Plain
 * data in, plain data out: Maps and Sets become arrays.
 */
import type { CallEvent } from './events.js';
import type { Call, Leg, Stay } from './model.js';

/** the key of the tracker's own row (agent sequences, wrap-ups, when it last heard the PBX) */
export const TRACKER_KEY = '';

/** a call's held call.initial (see CallTracker.holdInitial) */
export interface Held {
  ev: CallEvent;
  since: number | null;
}

export interface TrackerGlobals<W> {
  /** the daemon's clock at the last tick */
  clock: number | null;
  agentSeq: Array<[string, number]>;
  wrapups: W[];
  /** the PBX time of the last signal: legs found gone after a restart ended at the latest then */
  lastSignalAt: number | null;
}

interface CallJson extends Omit<Call, 'legs' | 'stays'> {
  legs: Leg[];
  stays: Array<Omit<Stay, 'offered'> & { offered: string[] }>;
  held: Held | null;
}

export function encodeCall(call: Call, held: Held | undefined): string {
  const json: CallJson = {
    ...call,
    legs: [...call.legs.values()],
    stays: call.stays.map((s) => ({ ...s, offered: [...s.offered] })),
    held: held ? { ev: held.ev, since: held.since } : null,
  };
  return JSON.stringify(json);
}

export function decodeCall(text: string): { call: Call; held: Held | null } {
  const { legs, stays, held, ...rest } = JSON.parse(text) as CallJson;
  const call: Call = {
    ...rest,
    legs: new Map(legs.map((l) => [l.id, l])),
    stays: stays.map((s) => ({ ...s, offered: new Set(s.offered) })),
  };
  return { call, held };
}

export function encodeGlobals<W>(g: TrackerGlobals<W>): string {
  return JSON.stringify(g);
}

export function decodeGlobals<W>(text: string): TrackerGlobals<W> {
  return JSON.parse(text) as TrackerGlobals<W>;
}
