/**
 * The same call flow on both PBXes gives the same events. Each pair is the live suite's
 * captures of one flow (test/fixtures/{asterisk,freeswitch}/live/), placed the same way
 * through each PBX; through `simulate`, with endpoints named by their user (PJSIP/agent1 and
 * sofia/internal/agent1 are both "agent1"), each call's legs must go through the same
 * states, with the same direction, transfers, segments and wrap-up.
 */
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { simulate } from '../src/simulate.js';
import { configFrom } from './helpers/config.js';

const CONFIG = {
  asterisk: configFrom(`
pbx:
  - {name: pbx1, type: asterisk, username: callhook, secret: x, trunks: ["PJSIP/caller*", "PJSIP/external*"], wrapup_time: 2s}
`),
  freeswitch: configFrom(`
pbx:
  - {name: fs1, type: freeswitch, secret: x, trunks: ["sofia/internal/1555*"], wrapup_time: 2s}
`),
};

/** PJSIP/agent1, sofia/internal/agent1, agent1 (a queue member) -> agent1; the labs' trunks -> trunk */
const user = (endpoint: string | null | undefined) =>
  (endpoint ?? '-').replace(/^(PJSIP|sofia\/internal)\//, '').replace(/^(caller\d?|external|1555\d+)$/, 'trunk');

/** what a receiver sees of a capture, per call in order of the first event, without PBX names */
async function seen(type: 'asterisk' | 'freeswitch', flow: string) {
  const evs = await simulate(type, `test/fixtures/${type}/live/${flow}.${type === 'asterisk' ? 'ami' : 'esl'}`, CONFIG[type]);
  const calls = new Map<string, CallEvent[]>();
  for (const e of evs) if (e.call_id) calls.set(e.call_id, [...(calls.get(e.call_id) ?? []), e]);
  return {
    calls: [...calls.values()].map((c) => {
      const legs: Record<string, string[]> = {};
      for (const e of c.filter((x) => x.context === 'LOCAL_USER')) (legs[user(e.endpoint)] ??= []).push(`${e.event_name} ${e.state}`);
      const report = c.find((e) => e.event_name === 'call.reporting')?.reporting;
      return {
        legs,
        directions: [...new Set(c.map((e) => e.direction))],
        queue: c.filter((e) => e.context === 'QUEUE').map((e) => `${e.event_name} ${e.state}`),
        transfers: c.filter((e) => e.transfer).map((e) => `${e.transfer!.kind} by ${user(e.transfer!.by_endpoint)} to ${user(e.transfer!.to)}`),
        missed: c.filter((e) => e.event_name === 'call.missed').map((e) => user(e.endpoint)),
        answeredBy: user(report?.answered_by),
        segments: report?.segments.map((g) => user(g.endpoint)),
        outcomes: report?.legs.filter((l) => l.role !== 'trunk' && l.role !== 'caller').map((l) => `${user(l.endpoint)} ${l.outcome}`).sort(),
      };
    }),
    wrapup: evs.filter((e) => e.wrapup).map((e) => e.wrapup!.state),
  };
}

describe('one call flow, both PBXes, the same events', () => {
  it.each([
    ['outbound-prefix', 'an agent dials 9 + a number out through a trunk'],
    ['internal', 'agent1 calls agent2'],
    ['ring-group-local', 'a ring group through helper channels (Asterisk Local/, FreeSWITCH loopback/)'],
    ['blind-transfer', 'REFER to 101'],
    ['attended-transfer', "a desk phone's consult call, then REFER with Replaces"],
  ])('%s: %s', async (flow) => {
    const fsFlow = flow === 'ring-group-local' ? 'ring-group-loopback' : flow;
    const [ast, fs] = await Promise.all([seen('asterisk', flow), seen('freeswitch', fsFlow)]);
    expect(ast.calls.length).toBeGreaterThan(0);
    expect(fs).toEqual(ast);
  });

  it('queue-wrapup: a queue call, then the agent wraps up', async () => {
    const [ast, fs] = await Promise.all([seen('asterisk', 'queue-wrapup'), seen('freeswitch', 'queue-wrapup')]);
    expect(ast.wrapup).toEqual(['START', 'TIMEOUT']);
    expect(fs.wrapup).toEqual(ast.wrapup);
    expect(fs.calls.map((c) => c.queue)).toEqual(ast.calls.map((c) => c.queue));
  });
});
