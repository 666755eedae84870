// Translator: each FreeSWITCH capture gives, per leg, the signal sequence the scenario's SIP
// ladder describes (expectations written from the captures' README, not from output).
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EslFramer, eventOf } from '../src/pbx/esl/framer.js';
import { ESL_HEADERS_USED, EslTranslator } from '../src/pbx/esl/translator.js';
import type { Signal } from '../src/calls/signals.js';

const DIR = new URL('./fixtures/freeswitch/', import.meta.url);

function signalsOf(scenario: string, format: 'plain' | 'json' = 'json'): Signal[] {
  const bytes = readFileSync(new URL(`${scenario}.${format}.esl`, DIR));
  const framer = new EslFramer();
  const tr = new EslTranslator({ pbxName: 'fs1' });
  const out: Signal[] = [];
  for (const m of framer.push(bytes)) {
    const ev = eventOf(m);
    if (ev) out.push(...tr.translate(ev, 0));
  }
  expect(framer.stats.malformedEvents).toBe(0);
  expect(tr.stats.malformed).toBe(0);
  return out;
}

/** one short string per signal, grouped by the leg it is about */
function perLeg(signals: Signal[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const s of signals) {
    if (!('legId' in s)) continue;
    let d: string = s.kind.replace(/^(leg|queue)\./, '');
    if (s.kind === 'leg.dial_end') d += ':' + s.status;
    if (s.kind === 'leg.hold') d += s.on ? ':on' : ':off';
    if (s.kind === 'leg.dtmf') d += ':' + s.digit;
    if (s.kind === 'leg.hangup') d += `:${s.causeName}:${s.cause}:${s.sipStatus}:${s.byEndpoint ? 'endpoint' : 'pbx'}`;
    if (s.kind === 'queue.join') d += ':' + s.queue;
    if (s.kind === 'queue.leave') d += ':' + s.disposition;
    const list = m.get(s.legId) ?? [];
    list.push(d);
    m.set(s.legId, list);
  }
  return m;
}

function created(signals: Signal[]) {
  return signals.filter((s): s is Extract<Signal, { kind: 'leg.created' }> => s.kind === 'leg.created');
}

/** the caller's leg (inbound, from sipp UAC :5170) and the agent legs, in creation order */
function legs(signals: Signal[]) {
  const c = created(signals);
  const caller = c.find((s) => s.endpoint === 'sofia/internal/15551230001');
  const agents = c.filter((s) => s.endpoint !== 'sofia/internal/15551230001');
  return { caller, agents };
}

const HANGUP_CALLER_BYE = 'hangup:NORMAL_CLEARING:16:200:endpoint';
const HANGUP_PBX_BYE = 'hangup:NORMAL_CLEARING:16:200:pbx';

describe.each(['json', 'plain'] as const)('EslTranslator on %s captures', (format) => {
  it('a: answered, caller hangs up (the calling leg rings when the callee\'s 180 reaches it)', () => {
    const sig = signalsOf('a-answered-caller-bye', format);
    const { caller, agents } = legs(sig);
    expect(caller).toMatchObject({ number: '15551230001', name: 'Alice', exten: '100', dialplanContext: 'default', parentLegId: null });
    expect(agents).toHaveLength(1);
    const agent = agents[0];
    expect(agent).toMatchObject({ endpoint: 'sofia/internal/agent1', number: 'agent1', callId: caller!.legId, parentLegId: caller!.legId });
    expect(agent.channel).toBe('sofia/internal/agent1@127.0.0.1:5181');
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'ringing', 'answered', HANGUP_CALLER_BYE]);
    expect(m.get(agent.legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_PBX_BYE]);
    // every signal of the call carries the A-leg's UUID as call id (the B-leg's own
    // Channel-Call-UUID on its later events must not leak through)
    expect(new Set(sig.filter((s) => 'callId' in s).map((s) => (s as { callId: string }).callId))).toEqual(new Set([caller!.legId]));
    // Event-Date-Timestamp is in microseconds
    expect(caller!.time).toBeGreaterThan(1795268041000);
    expect(caller!.time).toBeLessThan(1795268042000);
  });

  it('b: answered, agent hangs up', () => {
    const sig = signalsOf('b-answered-agent-bye', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'ringing', 'answered', HANGUP_PBX_BYE]);
    expect(m.get(agents[0].legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_CALLER_BYE]);
  });

  it('c: agent rings, call_timeout: both NO_ANSWER, agent leg NOANSWER, caller got 480', () => {
    const sig = signalsOf('c-ring-no-answer-timeout', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'ringing', 'hangup:NO_ANSWER:19:480:pbx']);
    expect(m.get(agents[0].legId)).toEqual(['created', 'ringing', 'dial_end:NOANSWER', 'hangup:NO_ANSWER:19:487:pbx']);
  });

  it('d: agent 486: BUSY, no ringing', () => {
    const sig = signalsOf('d-agent-busy-486', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'hangup:USER_BUSY:17:486:pbx']);
    expect(m.get(agents[0].legId)).toEqual(['created', 'dial_end:BUSY', 'hangup:USER_BUSY:17:486:endpoint']);
  });

  it('e: caller CANCELs while ringing: agent leg CANCEL (not its own ring)', () => {
    const sig = signalsOf('e-caller-cancel-ringing', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'ringing', 'hangup:ORIGINATOR_CANCEL:487:487:endpoint']);
    expect(m.get(agents[0].legId)).toEqual(['created', 'ringing', 'dial_end:CANCEL', 'hangup:ORIGINATOR_CANCEL:487:487:pbx']);
  });

  it('f: hold and unhold once each, on the caller leg that re-INVITEd', () => {
    const sig = signalsOf('f-hold-unhold', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'ringing', 'answered', 'hold:on', 'hold:off', HANGUP_CALLER_BYE]);
    expect(m.get(agents[0].legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_PBX_BYE]);
  });

  it('g: SIP INFO digits 1 2 # once each on the caller leg, 250 ms', () => {
    const sig = signalsOf('g-dtmf-info', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'dialed', 'ringing', 'answered', 'dtmf:1', 'dtmf:2', 'dtmf:#', HANGUP_CALLER_BYE]);
    expect(m.get(agents[0].legId)!.filter((d) => d.startsWith('dtmf'))).toEqual([]);
    const dtmf = sig.filter((s) => s.kind === 'leg.dtmf');
    expect(dtmf.map((s) => (s as { durationMs: number }).durationMs)).toEqual([250, 250, 250]);
  });

  it('h: queue answered by agent2; agent leg gets the caller call id; stay answered', () => {
    const sig = signalsOf('h-queue-answered', format);
    const { caller, agents } = legs(sig);
    expect(agents).toHaveLength(1);
    const agent = agents[0];
    expect(agent).toMatchObject({ endpoint: 'sofia/internal/agent2', callId: caller!.legId, parentLegId: caller!.legId });
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'answered', 'join:support', 'dialed', 'offer', 'leave:answered', HANGUP_CALLER_BYE]);
    expect(m.get(agent.legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_PBX_BYE]);
    const offer = sig.find((s) => s.kind === 'queue.offer');
    expect(offer).toMatchObject({ queue: 'support', memberLegId: agent.legId, member: 'agent2', callId: caller!.legId });
    const leave = sig.find((s) => s.kind === 'queue.leave');
    expect(leave).toMatchObject({ waitSeconds: 2 });
  });

  it('i: caller abandons the queue while agent1 rings: abandoned, agent leg CANCEL', () => {
    const sig = signalsOf('i-queue-abandoned', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'answered', 'join:support', 'dialed', 'offer', 'leave:abandoned', HANGUP_CALLER_BYE]);
    expect(m.get(agents[0].legId)).toEqual(['created', 'ringing', 'dial_end:CANCEL', 'hangup:ORIGINATOR_CANCEL:487:487:pbx']);
    expect(sig.find((s) => s.kind === 'queue.leave')).toMatchObject({ waitSeconds: 6 });
  });

  it('j: IVR digits before the bridge, then agent answers', () => {
    const sig = signalsOf('j-ivr-digits-then-agent', format);
    const { caller, agents } = legs(sig);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'answered', 'dtmf:1', 'dtmf:2', 'dtmf:#', 'dialed', HANGUP_CALLER_BYE]);
    expect(m.get(agents[0].legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_PBX_BYE]);
  });

  it('k: ESL originate: two outbound legs, one call, the far end hangs up', () => {
    const sig = signalsOf('k-esl-originate', format);
    const c = created(sig);
    expect(c.map((s) => s.endpoint)).toEqual(['sofia/internal/agent1', 'sofia/internal/999']);
    const [first, second] = c;
    expect(first).toMatchObject({ number: 'agent1', parentLegId: null, callId: first.legId });
    expect(second).toMatchObject({ number: '999', parentLegId: first.legId, callId: first.legId });
    const m = perLeg(sig);
    expect(m.get(first.legId)).toEqual(['created', 'ringing', 'answered', 'dialed', HANGUP_PBX_BYE]);
    expect(m.get(second.legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_CALLER_BYE]);
  });

  it('l: three concurrent calls stay apart', () => {
    const sig = signalsOf('l-concurrent-calls', format);
    const c = created(sig);
    expect(c).toHaveLength(6);
    const calls = new Map<string, string[]>();
    for (const s of c) calls.set(s.callId, [...(calls.get(s.callId) ?? []), s.endpoint]);
    expect([...calls.values()]).toEqual([
      ['sofia/internal/15551230001', 'sofia/internal/agent1'],
      ['sofia/internal/15551230001', 'sofia/internal/agent1'],
      ['sofia/internal/15551230001', 'sofia/internal/agent1'],
    ]);
    const m = perLeg(sig);
    for (const s of c) {
      const seq = m.get(s.legId)!;
      expect(seq[seq.length - 1]).toBe(s.endpoint.endsWith('agent1') ? HANGUP_PBX_BYE : HANGUP_CALLER_BYE);
    }
  });

  it('m: RFC 2833 digits 1 2 once each', () => {
    const sig = signalsOf('m-dtmf-rfc2833', format);
    const { caller } = legs(sig);
    expect(perLeg(sig).get(caller!.legId)!.filter((d) => d.startsWith('dtmf'))).toEqual(['dtmf:1', 'dtmf:2']);
  });

  it('n: agent1 busy (its own refusal: BUSY), agent2 answers', () => {
    const sig = signalsOf('n-queue-agent-busy-failover', format);
    const { caller, agents } = legs(sig);
    expect(agents.map((a) => a.endpoint)).toEqual(['sofia/internal/agent1', 'sofia/internal/agent2']);
    const m = perLeg(sig);
    expect(m.get(caller!.legId)).toEqual(['created', 'answered', 'join:support', 'dialed', 'offer', 'dialed', 'offer', 'leave:answered', HANGUP_CALLER_BYE]);
    expect(m.get(agents[0].legId)).toEqual(['created', 'dial_end:BUSY', 'hangup:USER_BUSY:17:486:endpoint']);
    expect(m.get(agents[1].legId)).toEqual(['created', 'ringing', 'answered', 'dial_end:ANSWER', HANGUP_PBX_BYE]);
    expect(new Set(agents.map((a) => a.callId))).toEqual(new Set([caller!.legId]));
  });
});

describe('EslTranslator edge cases', () => {
  const base = { 'Event-Date-Timestamp': '1795268041404569' };

  it('unknown events give no signal and are not errors; malformed ones are counted', () => {
    const tr = new EslTranslator({ pbxName: 'fs1' });
    expect(tr.translate({ ...base, 'Event-Name': 'HEARTBEAT' }, 5)).toEqual([]);
    expect(tr.translate({ ...base, 'Event-Name': 'CHANNEL_ANSWER' }, 5)).toEqual([]); // no Unique-ID
    expect(tr.translate({ nonsense: 'x' }, 5)).toEqual([]);
    expect(tr.stats.malformed).toBe(2);
    expect(tr.stats.ignored).toBe(1);
  });

  it('falls back to the receive time without Event-Date-Timestamp', () => {
    const tr = new EslTranslator({ pbxName: 'fs1' });
    const [s] = tr.translate({ 'Event-Name': 'CHANNEL_CREATE', 'Unique-ID': 'u1', 'Channel-Name': 'sofia/internal/1001@x', 'Call-Direction': 'inbound' }, 1234);
    expect(s).toMatchObject({ kind: 'leg.created', time: 1234, callId: 'u1', endpoint: 'sofia/internal/1001' });
  });

  it('agent status changes map to login / paused / unpaused / logout', () => {
    const tr = new EslTranslator({ pbxName: 'fs1' });
    const st = (status: string) =>
      tr.translate({ ...base, 'Event-Name': 'CUSTOM', 'Event-Subclass': 'callcenter::info', 'CC-Action': 'agent-status-change', 'CC-Agent': 'agent1', 'CC-Agent-Status': status }, 0);
    expect(st('Available')).toMatchObject([{ kind: 'agent.status', action: 'login', member: 'agent1', pbxEvent: 'agent-status-change' }]);
    expect(st('On Break')).toMatchObject([{ action: 'paused' }]);
    expect(st('Available')).toMatchObject([{ action: 'unpaused' }]);
    expect(st('Available')).toEqual([]);
    expect(st('Logged Out')).toMatchObject([{ action: 'logout' }]);
  });

  it('a queue timeout (CC-Cancel-Reason TIMEOUT) is a timeout disposition', () => {
    const tr = new EslTranslator({ pbxName: 'fs1' });
    const cc = { ...base, 'Event-Name': 'CUSTOM', 'Event-Subclass': 'callcenter::info', 'CC-Queue': 'support', 'CC-Member-Session-UUID': 'm1', 'Unique-ID': 'm1' };
    tr.translate({ ...base, 'Event-Name': 'CHANNEL_CREATE', 'Unique-ID': 'm1', 'Channel-Name': 'sofia/internal/1001@x', 'Call-Direction': 'inbound' }, 0);
    tr.translate({ ...cc, 'CC-Action': 'member-queue-start' }, 0);
    const out = tr.translate({ ...cc, 'CC-Action': 'member-queue-end', 'CC-Cause': 'Cancel', 'CC-Cancel-Reason': 'TIMEOUT', 'CC-Member-Joined-Time': '100', 'CC-Member-Leaving-Time': '130' }, 0);
    expect(out).toMatchObject([{ kind: 'queue.leave', disposition: 'timeout', waitSeconds: 30, queue: 'support', legId: 'm1' }]);
  });

  it('resync lists the live legs of show channels as json, with the A-leg call id', () => {
    const raw = readFileSync(new URL('h-queue-answered.show-channels-json.esl', DIR));
    const msgs = new EslFramer().push(raw);
    const reply = msgs.find((m) => m.headers['Content-Type'] === 'api/response')!;
    const rows = (JSON.parse(reply.body!) as { rows: unknown[] }).rows;
    const tr = new EslTranslator({ pbxName: 'fs1' });
    const s = tr.resync(rows, 42);
    expect(s).toMatchObject({ kind: 'resync', time: 42 });
    if (s.kind !== 'resync') throw new Error('not a resync');
    expect(s.live).toEqual([
      { callId: '34322140-eba1-4258-84f2-343528f6e070', legId: '34322140-eba1-4258-84f2-343528f6e070', channel: 'sofia/internal/15551230001@127.0.0.1:5170', endpoint: 'sofia/internal/15551230001', number: '15551230001', name: 'Alice', exten: '200', answered: true, ringing: false, helper: false },
      { callId: '34322140-eba1-4258-84f2-343528f6e070', legId: 'c8d73289-cbfa-4a4a-8867-43bf174a88db', channel: 'sofia/internal/agent2@127.0.0.1:5182', endpoint: 'sofia/internal/agent2', number: 'agent2', name: null, exten: 'agent2', answered: true, ringing: false, helper: false },
    ]);
    // a later hangup of an adopted leg uses the resync's call id
    const out = tr.translate({ ...base, 'Event-Name': 'CHANNEL_HANGUP_COMPLETE', 'Unique-ID': 'c8d73289-cbfa-4a4a-8867-43bf174a88db', 'Channel-Call-UUID': 'c8d73289-cbfa-4a4a-8867-43bf174a88db', 'Hangup-Cause': 'NORMAL_CLEARING' }, 0);
    expect(out).toMatchObject([{ kind: 'leg.hangup', callId: '34322140-eba1-4258-84f2-343528f6e070', cause: 16, byEndpoint: null }]);
  });
});

describe('loopback ring groups', () => {
  it("a B leg created before its A leg still joins the customer's call", async () => {
    const { simulate } = await import('../src/simulate.js');
    const { EslFramer } = await import('../src/pbx/esl/framer.js');
    const raw = readFileSync('test/fixtures/freeswitch/live/ring-group-loopback.esl');
    const msgs = new EslFramer().push(raw);
    expect(msgs.length).toBeGreaterThan(10);
    // swap every loopback A leg's CHANNEL_CREATE with its B leg's, as a busy FreeSWITCH may send them
    const text = raw.toString('latin1');
    const frames = text.split(/(?=Content-Length: \d+\nContent-Type: text\/event-json\n\n)/);
    const isCreate = (f: string, leg: 'A' | 'B') => f.includes('"Event-Name":"CHANNEL_CREATE"') && f.includes(`"variable_loopback_leg":"${leg}"`);
    for (let i = 0; i < frames.length - 1; i++) {
      if (isCreate(frames[i], 'A') && isCreate(frames[i + 1], 'B')) [frames[i], frames[i + 1]] = [frames[i + 1], frames[i]];
    }
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(mkdtempSync(join(tmpdir(), 'rg-')), 'swapped.esl');
    writeFileSync(file, frames.join(''), 'latin1');
    const evs = await simulate('freeswitch', file);
    expect(frames.join('')).not.toBe(text);
    expect(new Set(evs.map((e) => e.call_id)).size).toBe(1);
    expect(evs.some((e) => e.event_name === 'call.missed')).toBe(false);
  });
});

describe('ESL_HEADERS_USED (what a plain-event framer decodes)', () => {
  it('names every event header the translator reads', () => {
    const src = readFileSync(new URL('../src/pbx/esl/translator.ts', import.meta.url), 'utf8');
    const read = new Set([...src.matchAll(/\bev\['([^']+)'\]|\bev\.([A-Za-z0-9_]+)/g)].map((m) => m[1] ?? m[2]));
    expect(read.size).toBeGreaterThan(40);
    // the translator reads events only through `ev` with literal names
    expect(src).not.toMatch(/\bev\[[^'\]]/);
    expect([...read].filter((h) => !ESL_HEADERS_USED.includes(h))).toEqual([]);
  });

  it('every FreeSWITCH capture translates the same from those headers alone as from all of them', () => {
    const files = [
      ...readdirSync(DIR).filter((f) => /\.(json|plain)\.esl$/.test(f)).map((f) => new URL(f, DIR)),
      ...readdirSync(new URL('live/', DIR)).filter((f) => f.endsWith('.esl')).map((f) => new URL(`live/${f}`, DIR)),
    ];
    expect(files.length).toBeGreaterThan(30);
    let signals = 0;
    for (const file of files) {
      const full = new EslTranslator({ pbxName: 'fs1' });
      const picked = new EslTranslator({ pbxName: 'fs1' });
      for (const m of new EslFramer().push(readFileSync(file))) {
        const ev = eventOf(m);
        if (!ev) continue;
        const only = Object.fromEntries(Object.entries(ev).filter(([k]) => ESL_HEADERS_USED.includes(k)));
        const want = full.translate(ev, 0);
        expect(picked.translate(only, 0), `${file.pathname} ${ev['Event-Name']}`).toEqual(want);
        signals += want.length;
      }
    }
    expect(signals).toBeGreaterThan(500);
  });
});
