/**
 * The tracker and the AMI decode path on their own: chunking never changes the events,
 * garbage never throws, memory stays bounded (ended calls leave, orphans are closed),
 * and the pure leg state machine follows DESIGN §2.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { transition } from '../src/calls/leg-machine.js';
import { CallTracker } from '../src/calls/tracker.js';
import type { Signal } from '../src/calls/signals.js';
import { createDecoder } from '../src/pbx/capture.js';
import { AmiFramer } from '../src/pbx/ami/framer.js';
import { AMI_EVENTS_USED, AmiTranslator } from '../src/pbx/ami/translator.js';

const FIX = 'test/fixtures/asterisk';
const pbx = { name: 'pbx1', type: 'asterisk' as const };

async function eventsFor(bytes: Buffer, cuts: number[]): Promise<string[]> {
  const decoder = await createDecoder('asterisk');
  const tracker = new CallTracker({ pbx, source: 'ami' });
  const out: string[] = [];
  let prev = 0;
  for (const cut of [...cuts.sort((a, b) => a - b), bytes.length]) {
    for (const s of decoder.push(bytes.subarray(prev, cut), 1_000)) for (const e of tracker.apply(s)) out.push(`${e.id} ${e.event_name} ${e.leg_id}`);
    prev = cut;
  }
  return out;
}

describe('AMI decode + tracker', () => {
  it('any split of a capture into TCP chunks gives the same events', async () => {
    const bytes = readFileSync(`${FIX}/h-queue-answered.ami`);
    const whole = await eventsFor(bytes, []);
    expect(whole.length).toBeGreaterThan(10);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 60 }), async (cuts) => {
        expect(await eventsFor(bytes, cuts)).toEqual(whole);
      }),
      { numRuns: 60 },
    );
  });

  it('skipping the events the translator never reads (VarSet, Newexten, Cdr, ...) changes no call event', async () => {
    for (const name of ['h-queue-answered', 'n-concurrent-calls', 'o-status-coreshowchannels-midcall']) {
      const bytes = readFileSync(`${FIX}/${name}.ami`);
      const all = new AmiFramer();
      const skipping = new AmiFramer({ keepEvent: (e) => AMI_EVENTS_USED.has(e) });
      const events = (framer: AmiFramer) => {
        const tracker = new CallTracker({ pbx, source: 'ami' });
        const translator = new AmiTranslator();
        return framer.push(bytes).flatMap((m) => translator.translate(m, 0)).flatMap((s) => tracker.apply(s)).map((e) => `${e.id} ${e.event_name}`);
      };
      expect(events(skipping)).toEqual(events(all));
      expect(skipping.skipped).toBeGreaterThan(0);
    }
    // responses and list items are never skipped
    const o = new AmiFramer({ keepEvent: () => false }).push(readFileSync(`${FIX}/o-status-coreshowchannels-midcall.ami`));
    expect(o.filter((m) => m.Response === 'Success').length).toBe(3);
  });

  it('mutated and garbage frames never throw', async () => {
    const bytes = readFileSync(`${FIX}/f-hold-unhold.ami`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat({ max: bytes.length - 1 }), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 200 }),
        fc.uint8Array({ maxLength: 2000 }),
        async (mutations, garbage) => {
          const copy = Buffer.from(bytes);
          for (const m of mutations) copy[m.at] = m.byte;
          const decoder = await createDecoder('asterisk');
          const tracker = new CallTracker({ pbx, source: 'ami' });
          for (const chunk of [copy.subarray(0, 5000), Buffer.from(garbage), copy.subarray(5000)]) {
            for (const s of decoder.push(chunk, 0)) tracker.apply(s);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('tracker memory', () => {
  const created = (legId: string, callId: string, time: number): Signal => ({
    kind: 'leg.created', time, pbxEvent: 'Newchannel', callId, legId, channel: `PJSIP/agent1-${legId}`, endpoint: 'PJSIP/agent1',
    number: '2001', name: 'Agent One', exten: '100', dialplanContext: 'from-agent',
  });

  it('ended calls leave the tracker', async () => {
    const decoder = await createDecoder('asterisk');
    const tracker = new CallTracker({ pbx, source: 'ami' });
    for (const s of decoder.push(readFileSync(`${FIX}/n-concurrent-calls.ami`), 0)) tracker.apply(s);
    expect(tracker.activeCalls).toBe(0);
    expect(tracker.activeLegs).toBe(0);
  });

  it('an orphan leg (no signal for orphan_timeout) is closed on the next tick, as reconciled', () => {
    const tracker = new CallTracker({ pbx, source: 'ami', orphanTimeoutMs: 60_000 });
    // idle time is measured on the daemon's clock (ticks), whatever the PBX's event times say
    tracker.apply({ kind: 'tick', time: 0, pbxEvent: 'tick' });
    tracker.apply(created('1.1', '1.1', 5_000_000_000));
    tracker.apply({ kind: 'leg.answered', time: 1_000, pbxEvent: 'Newstate', callId: '1.1', legId: '1.1' });
    expect(tracker.apply({ kind: 'tick', time: 30_000, pbxEvent: 'tick' })).toEqual([]);
    const ev = tracker.apply({ kind: 'tick', time: 61_001, pbxEvent: 'tick' });
    expect(ev.map((e) => e.event_name)).toEqual(['call.hangup', 'call.reporting']);
    expect(ev[0].signal.reconciled).toBe(true);
    expect(tracker.activeCalls).toBe(0);
  });

  it('resync adopts live legs it did not know and closes the ones the PBX no longer has', () => {
    const tracker = new CallTracker({ pbx, source: 'ami' });
    tracker.apply(created('1.1', '1.1', 0));
    const ev: CallEvent[] = tracker.apply({
      kind: 'resync', time: 5_000, pbxEvent: 'CoreShowChannels',
      live: [{ callId: '2.1', legId: '2.1', channel: 'PJSIP/agent2-00000009', endpoint: 'PJSIP/agent2', number: '2002', name: null, exten: '101', answered: true }],
    });
    expect(ev.map((e) => `${e.event_name} ${e.leg_id} ${e.signal.reconciled}`)).toEqual([
      // the lone leg's call.initial was held for routing; it goes out before its hangup
      'call.initial 1.1 undefined',
      'call.hangup 1.1 true',
      'call.reporting null undefined',
      // it began while callhook could not see it: it rang, then was answered
      'call.initial 2.1 true',
      'call.ringing 2.1 true',
      'call.connected 2.1 true',
    ]);
  });

  it('resync adopts a leg still ringing as ringing', () => {
    const tracker = new CallTracker({ pbx, source: 'ami' });
    const ev = tracker.apply({
      kind: 'resync', time: 5_000, pbxEvent: 'CoreShowChannels',
      live: [{ callId: '3.1', legId: '3.2', channel: 'PJSIP/agent1-0000000a', endpoint: 'PJSIP/agent1', number: '2001', name: null, exten: null, answered: false, ringing: true }],
    });
    expect(ev.map((e) => `${e.event_name} ${e.state} ${e.signal.reconciled}`)).toEqual(['call.initial INITIAL true', 'call.ringing RINGING true']);
  });

  it('signals about unknown legs are ignored', () => {
    const tracker = new CallTracker({ pbx, source: 'ami' });
    expect(tracker.apply({ kind: 'leg.hangup', time: 0, pbxEvent: 'Hangup', callId: 'x', legId: 'x', cause: 16, causeName: null, sipStatus: null, byEndpoint: true })).toEqual([]);
    expect(tracker.apply({ kind: 'leg.dtmf', time: 0, pbxEvent: 'DTMFEnd', callId: 'x', legId: 'x', digit: '1', durationMs: 100 })).toEqual([]);
  });
});

describe('leg state machine (DESIGN §2)', () => {
  it('follows INVITE -> 180 -> 200 -> hold -> unhold -> BYE', () => {
    expect(transition('INITIAL', 'ring')).toEqual({ next: 'RINGING', event: 'call.ringing' });
    expect(transition('RINGING', 'answer')).toEqual({ next: 'CONNECTED', event: 'call.connected' });
    expect(transition('CONNECTED', 'hold')).toEqual({ next: 'ON_HOLD', event: 'call.hold' });
    expect(transition('ON_HOLD', 'unhold')).toEqual({ next: 'CONNECTED', event: 'call.unhold' });
    expect(transition('CONNECTED', 'hangup')).toEqual({ next: 'HANGUP', event: 'call.hangup' });
  });

  it('ignores inputs that change nothing (a second 200, unhold while connected, anything after HANGUP)', () => {
    expect(transition('CONNECTED', 'answer').event).toBeNull();
    expect(transition('CONNECTED', 'unhold').event).toBeNull();
    expect(transition('RINGING', 'ring').event).toBeNull();
    expect(transition('HANGUP', 'hangup').event).toBeNull();
    expect(transition('INITIAL', 'hold').event).toBeNull();
  });
});

describe('queue.wrapup', () => {
  const callEnd = (time: number, member = 'PJSIP/agent1', wrapupSeconds: number | null = null): Signal => ({
    kind: 'agent.call_end', time, pbxEvent: 'AgentComplete', callId: `c${time}`, queue: 'support', member, memberName: 'Agent One', wrapupSeconds,
  });
  const status = (time: number, action: 'paused' | 'logout' | 'unpaused'): Signal => ({
    kind: 'agent.status', time, pbxEvent: 'QueueMemberPause', action, queue: 'support', member: 'PJSIP/agent1', memberName: null, reason: null,
  });
  const wrap = (evs: CallEvent[]) => evs.map((e) => `${e.event_name} ${e.wrapup?.state ?? '-'} ${e.event_time.slice(17, 23)} ${e.sequence}`);
  const run = (opts: { wrapupMs?: number }, sigs: Signal[]) => {
    const t = new CallTracker({ pbx, source: 'ami', ...opts });
    return sigs.flatMap((s) => t.apply(s));
  };
  const T = Date.UTC(2026, 0, 1, 12, 0, 0);

  it('is not sent without a wrap-up time', () => {
    expect(run({}, [callEnd(T)])).toEqual([]);
  });

  it("a member's own wrap-up time (Asterisk Wrapuptime) wins over pbx[].wrapup_time", () => {
    expect(run({ wrapupMs: 30_000 }, [callEnd(T, 'PJSIP/agent1', 5)])[0].wrapup).toEqual({ state: 'START', seconds: 5, call_id: `c${T}` });
  });

  it('TIMEOUT comes before the first later PBX event, at the time the wrap-up ran out', () => {
    const evs = run({ wrapupMs: 2_000 }, [callEnd(T), status(T + 5_000, 'paused')]);
    expect(wrap(evs)).toEqual(['queue.wrapup START 00.000 1', 'queue.wrapup TIMEOUT 02.000 2', 'agent.paused - 05.000 3']);
  });

  it("TIMEOUT by the daemon's clock when the PBX says nothing more", () => {
    const tick = (time: number): Signal => ({ kind: 'tick', time, pbxEvent: 'tick' });
    const evs = run({ wrapupMs: 2_000 }, [tick(1_000_000), callEnd(T), tick(1_001_000), tick(1_002_000)]);
    expect(wrap(evs)).toEqual(['queue.wrapup START 00.000 1', 'queue.wrapup TIMEOUT 02.000 2']);
  });

  it('END when the member pauses or logs out during wrap-up, or finishes another queue call', () => {
    expect(wrap(run({ wrapupMs: 30_000 }, [callEnd(T), status(T + 1_000, 'paused')])))
      .toEqual(['queue.wrapup START 00.000 1', 'queue.wrapup END 01.000 2', 'agent.paused - 01.000 3']);
    expect(wrap(run({ wrapupMs: 30_000 }, [callEnd(T), status(T + 1_000, 'logout')])).slice(1, 2)).toEqual(['queue.wrapup END 01.000 2']);
    expect(wrap(run({ wrapupMs: 30_000 }, [callEnd(T), callEnd(T + 3_000)])))
      .toEqual(['queue.wrapup START 00.000 1', 'queue.wrapup END 03.000 2', 'queue.wrapup START 03.000 3']);
    // unpausing is not the end of a wrap-up
    expect(wrap(run({ wrapupMs: 30_000 }, [callEnd(T), status(T + 1_000, 'unpaused')]))).toEqual(['queue.wrapup START 00.000 1', 'agent.unpaused - 01.000 2']);
  });
});

describe('a value from the wire never jams a call', () => {
  it('an absurd Timestamp on one Hangup frame: every event is still sent, at the receive time, and the call ends', async () => {
    const { simulate } = await import('../src/simulate.js');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = 'test/fixtures/asterisk/live/inbound.ami';
    const good = await simulate('asterisk', file);
    const text = readFileSync(file, 'latin1');
    const at = text.indexOf('Event: Hangup\r\n');
    const bad = text.slice(0, at) + text.slice(at).replace(/Timestamp: [0-9.]+/, 'Timestamp: 10000000000000');
    const badFile = join(mkdtempSync(join(tmpdir(), 'ts-')), 'bad.ami');
    writeFileSync(badFile, bad, 'latin1');
    const evs = await simulate('asterisk', badFile);
    expect(evs.map((e) => e.event_name)).toEqual(good.map((e) => e.event_name));
    expect(evs.filter((e) => e.event_name === 'call.reporting')).toHaveLength(1);
    for (const e of evs) expect(Date.parse(e.event_time)).toBeLessThan(Date.UTC(2100, 0, 1));
  });

  it.each(['10000000000000', '-5', 'NaN', '1e400', '0'])('Timestamp: %s is not a time', async (ts) => {
    const t = new AmiTranslator();
    const sigs = t.translate({ Event: 'Newchannel', Timestamp: ts, Uniqueid: '1.1', Linkedid: '1.1', Channel: 'PJSIP/a-00000001' } as never, 1_800_000_000_000);
    expect(sigs.length).toBeGreaterThan(0);
    for (const s of sigs) expect(s.time).toBe(1_800_000_000_000);
  });
});
