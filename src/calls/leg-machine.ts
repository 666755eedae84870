/**
 * The per-leg state machine of DESIGN §2: a pure function of (state, input) ->
 * (next state, event). No I/O, no clock, no call context: the tracker decides which
 * inputs a leg gets (and whether an unanswered hangup is also a call.missed).
 */
import type { EventName, LegState } from './events.js';

export type LegInput = 'ring' | 'answer' | 'hold' | 'unhold' | 'hangup';

export interface Transition {
  next: LegState;
  /** the event this transition emits, or null when the input changes nothing */
  event: EventName | null;
}

const TABLE: Record<LegState, Partial<Record<LegInput, Transition>>> = {
  INITIAL: {
    ring: { next: 'RINGING', event: 'call.ringing' },
    answer: { next: 'CONNECTED', event: 'call.connected' },
    hangup: { next: 'HANGUP', event: 'call.hangup' },
  },
  RINGING: {
    answer: { next: 'CONNECTED', event: 'call.connected' },
    hangup: { next: 'HANGUP', event: 'call.hangup' },
  },
  CONNECTED: {
    hold: { next: 'ON_HOLD', event: 'call.hold' },
    hangup: { next: 'HANGUP', event: 'call.hangup' },
  },
  ON_HOLD: {
    unhold: { next: 'CONNECTED', event: 'call.unhold' },
    hangup: { next: 'HANGUP', event: 'call.hangup' },
  },
  HANGUP: {},
};

export function transition(state: LegState, input: LegInput): Transition {
  return TABLE[state][input] ?? { next: state, event: null };
}

