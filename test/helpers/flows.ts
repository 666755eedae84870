/**
 * Expectations about whole call flows that several tests share (the live suite on each PBX
 * and the scenario tables over its captures), written by hand from what the flow is.
 */
import { expect } from 'vitest';
import type { CallEvent } from '../../src/calls/events.js';

/** `event context state endpoint`: how the tests state a leg's events */
export const shape = (e: CallEvent): string => [e.event_name, e.context, e.state ?? '-', e.endpoint ?? '-'].join(' ');

/**
 * (both PBXes) what a CRM sees of a desk phone's attended transfer: the customer's call has
 * agent1, then agent2, with call.transferred between and a segment each in call.reporting;
 * the consult is an internal call of its own, whose legs begin and end once in it
 */
export function attendedTransferSeen(all: CallEvent[], agent1: string, agent2: string): void {
  const byCall = new Map<string, CallEvent[]>();
  for (const e of all) if (e.call_id) byCall.set(e.call_id, [...(byCall.get(e.call_id) ?? []), e]);
  expect(byCall.size).toBe(2);
  const [customer, consult] = [...byCall.values()].sort((a) => (a[0].direction === 'in' ? -1 : 1));
  // (Asterisk hangs agent1 up after the transfer, FreeSWITCH just before it)
  const legOf = (ep: string) => customer.filter((e) => e.context === 'LOCAL_USER' && e.endpoint === ep).map(shape);
  expect(legOf(agent1)).toEqual([
    `call.initial LOCAL_USER INITIAL ${agent1}`, `call.ringing LOCAL_USER RINGING ${agent1}`, `call.connected LOCAL_USER CONNECTED ${agent1}`, `call.hangup LOCAL_USER HANGUP ${agent1}`,
  ]);
  expect(legOf(agent2)).toEqual([`call.initial LOCAL_USER INITIAL ${agent2}`, `call.connected LOCAL_USER CONNECTED ${agent2}`, `call.hangup LOCAL_USER HANGUP ${agent2}`]);
  expect(customer.every((e) => e.direction === 'in')).toBe(true);
  const t = customer.filter((e) => e.event_name === 'call.transferred');
  expect(t.map((e) => e.transfer)).toMatchObject([{ kind: 'attended', by_endpoint: agent1, to: agent2 }]);
  const names = customer.map((e) => `${e.event_name} ${e.endpoint}`);
  expect(names.indexOf(`call.transferred ${agent1}`)).toBeLessThan(names.indexOf(`call.initial ${agent2}`));
  expect(names.indexOf(`call.transferred ${agent1}`)).toBeGreaterThan(names.indexOf(`call.connected ${agent1}`));
  const report = customer.find((e) => e.event_name === 'call.reporting')!.reporting!;
  expect(report.segments.map((g) => g.endpoint)).toEqual([agent1, agent2]);
  expect(report.segments[1].connected_at).toBe(t[0].event_time);
  // the consult call: agent1 called agent2; agent2 left it for the customer's call
  expect(consult.every((e) => e.direction === 'internal')).toBe(true);
  const began = consult.filter((e) => e.event_name === 'call.initial').map((e) => e.endpoint).sort();
  expect(consult.filter((e) => e.event_name === 'call.hangup').map((e) => e.endpoint).sort()).toEqual(began);
  expect(began).toEqual([agent1, agent2]);
  expect(consult.filter((e) => e.event_name === 'call.reporting')).toHaveLength(1);
}


/**
 * (both PBXes, across daemon crashes) each event once by id (redeliveries carry the same
 * id), then: every leg that began ends with exactly one call.hangup, no leg begins twice,
 * and every call has exactly one call.reporting. Returns the events by call.
 */
export function everyLegEndsOnce(all: CallEvent[]): Map<string, CallEvent[]> {
  const byId = new Map<string, CallEvent>();
  for (const e of all) byId.set(e.id, e);
  const byCall = new Map<string, CallEvent[]>();
  for (const e of byId.values()) if (e.call_id) byCall.set(e.call_id, [...(byCall.get(e.call_id) ?? []), e]);
  for (const [call, evs] of byCall) {
    const count = (name: string, leg?: string) => evs.filter((e) => e.event_name === name && e.context !== 'QUEUE' && (leg === undefined || e.leg_id === leg)).length;
    expect(count('call.reporting'), `call ${call}: one call.reporting`).toBe(1);
    const legs = new Set(evs.filter((e) => e.context === 'LOCAL_USER').map((e) => e.leg_id));
    for (const leg of legs) {
      expect(count('call.initial', leg!), `call ${call} leg ${leg}: one call.initial`).toBe(1);
      expect(count('call.hangup', leg!), `call ${call} leg ${leg}: one call.hangup`).toBe(1);
    }
  }
  return byCall;
}

/**
 * (both PBXes) the three calls of the daemon-crash test: each leg begins and ends once, each
 * call reports once; A (agent1) and B (agent2) ended while callhook was down (reconciled
 * hangups), C (agent2 again) while it was up
 */
export function crashedCallsSeen(all: CallEvent[], agent1: string, agent2: string): void {
  const byCall = everyLegEndsOnce(all);
  expect(byCall.size).toBe(3);
  const answeredBy = [...byCall.values()].map((evs) => evs.find((e) => e.event_name === 'call.reporting')!.reporting!.answered_by).sort();
  expect(answeredBy).toEqual([agent1, agent2, agent2]);
  const hangups = [...byCall.values()].flatMap((evs) => evs.filter((e) => e.event_name === 'call.hangup'));
  expect(hangups.filter((e) => e.signal.reconciled).length).toBe(2);
  expect(hangups.filter((e) => !e.signal.reconciled).map((e) => e.endpoint)).toEqual([agent2]);
}
