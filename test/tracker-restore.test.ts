/**
 * Calls in progress survive a restart (#11 point 2): the tracker's state, as written to the
 * store with the events of each turn, is enough to go on. Every capture, real PBX streams of
 * every flow we have, is replayed twice: once by one tracker, and once by a tracker that is
 * thrown away after every single signal and rebuilt from the stored rows. Both must give
 * the same events, ids included.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import type { PbxType, Signal } from '../src/calls/signals.js';
import { decodeCapture } from '../src/pbx/capture.js';
import { createTracker } from '../src/pipeline.js';
import { simulatedPbx } from '../src/simulate.js';
import type { CallTracker } from '../src/calls/tracker.js';

const calls = { recording_variable: 'MIXMONITOR_FILENAME', recording_url: null };
const pbx = (type: PbxType) => ({ ...simulatedPbx(type), trunks: ['PJSIP/caller*', 'PJSIP/external*', 'sofia/gateway/*', 'sofia/external/*'], wrapup_ms: 2000 });

function captures(type: PbxType): string[] {
  const dir = `test/fixtures/${type}`;
  const ext = type === 'asterisk' ? /\.ami$/ : /\.(json|plain)\.esl$|\/live\/.*\.esl$/;
  return [dir, `${dir}/live`].flatMap((d) => readdirSync(d).map((f) => join(d, f))).filter((f) => ext.test(f));
}

/** the signals of a capture, then time passing as simulate has it */
async function signalsOf(type: PbxType, file: string): Promise<Signal[]> {
  const signals = await decodeCapture(type, file, { keepVariables: [calls.recording_variable] });
  return [...signals, { kind: 'tick', time: 0, pbxEvent: 'tick' }, { kind: 'tick', time: 3_600_000, pbxEvent: 'tick' }];
}

/** the store: takeChanges() rows applied as the outbox applies them */
function persist(store: Map<string, string>, tracker: CallTracker): void {
  for (const c of tracker.takeChanges()) {
    if (c.state === null) store.delete(c.key);
    else store.set(c.key, c.state);
  }
}

describe.each(['asterisk', 'freeswitch'] as const)('%s: a tracker rebuilt from its stored state after every signal', (type) => {
  it.each(captures(type))('%s gives the same events as one that never stopped', async (file) => {
    const signals = await signalsOf(type, file);
    const config = { calls };
    const steady = createTracker(pbx(type), config);
    const expected: CallEvent[] = signals.flatMap((s) => steady.apply(s));

    const store = new Map<string, string>();
    const got: CallEvent[] = [];
    for (const s of signals) {
      const tracker = createTracker(pbx(type), config, true);
      tracker.restore([...store].map(([key, state]) => ({ key, state })));
      got.push(...tracker.apply(s));
      persist(store, tracker);
    }
    expect(expected.length).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(JSON.stringify(expected)));
    // a finished capture leaves no call behind in the store, only the tracker's own row
    if (steady.activeCalls === 0) expect([...store.keys()]).toEqual(['']);
  });
});
