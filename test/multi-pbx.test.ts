/**
 * Both kinds of PBX in one config: an AMI endpoint and an ESL endpoint on 127.0.0.1 (each
 * replaying real captures), two `pbx:` entries, one daemon child process, one receiver.
 * Every event says which PBX it came from (`pbx.name`, `pbx.type`), and both PBXes' calls
 * arrive complete and in order.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { readCapture } from '../src/pbx/capture.js';
import { startAmiReplayServer } from '../src/demo/ami-replay-server.js';
import { startEslReplayServer } from '../src/demo/esl-replay-server.js';
import { simulate } from '../src/simulate.js';
import { configFrom, tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, until } from './helpers/daemon.js';
import { eslCapture, FS_TRUNKS, fsCapture } from './helpers/freeswitch.js';
import { startReceiver } from './helpers/receiver.js';

const AST_FILES = ['a-answered-caller-hangup', 'h-queue-answered'].map((s) => `test/fixtures/asterisk/${s}.ami`);
const FS_FILES = ['a-answered-caller-bye', 'i-queue-abandoned'].map((s) => fsCapture(s, 'json'));

function yaml(amiPort: number, eslPort: number, receiverUrl: string, dir: string): string {
  return `
pbx:
  - name: ast-london
    type: asterisk
    host: 127.0.0.1
    port: ${amiPort}
    username: callhook
    secret: ami-secret
    trunks: ["PJSIP/caller*", "PJSIP/external*"]
  - name: fs-paris
    type: freeswitch
    host: 127.0.0.1
    port: ${eslPort}
    secret: esl-secret
    trunks: ${JSON.stringify(FS_TRUNKS)}
webhooks:
  - name: crm
    url: ${receiverUrl}/hooks/calls
    events: ["*"]
    retry: {schedule: [0s, 100ms]}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
log: {level: info}
`;
}

const shape = (e: CallEvent) => [e.event_name, e.context, e.state ?? '-', e.endpoint ?? '-', e.direction, e.src, e.dst, e.hangup_cause].join(' ');

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

describe('Asterisk and FreeSWITCH side by side in one daemon', () => {
  it('delivers both PBXes calls, each event tagged with its pbx name and type', async () => {
    const ami = await startAmiReplayServer({
      captures: AST_FILES.map((f) => ({ bytes: readCapture(f).bytes })),
      username: 'callhook',
      secret: 'ami-secret',
      pace: 'instant',
    });
    cleanup.push(() => ami.close());
    const esl = await startEslReplayServer({ captures: FS_FILES.map(eslCapture), password: 'esl-secret', pace: 'instant' });
    cleanup.push(() => esl.close());
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const dir = tempDir();
    const daemon = spawnDaemon(writeConfig(yaml(ami.port, esl.port, receiver.url, dir), dir));
    cleanup.push(() => daemon.stop());

    // what each PBX's bytes give offline, under this config (simulate picks the PBX entry by type)
    const config = configFrom(yaml(1, 1, 'http://127.0.0.1:1', tempDir()));
    const expected = new Map<string, CallEvent[]>();
    for (const [type, files] of [['asterisk', AST_FILES], ['freeswitch', FS_FILES]] as const) {
      for (const f of files) for (const e of await simulate(type, f, config)) expected.set(e.call_id!, [...(expected.get(e.call_id!) ?? []), e]);
    }
    const total = [...expected.values()].reduce((n, evs) => n + evs.length, 0);
    await until(() => receiver.requests.length >= total, 20_000, `${total} webhooks`);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.requests.length).toBe(total);

    const got = new Map<string, CallEvent[]>();
    for (const r of receiver.requests) {
      const ev = JSON.parse(r.body) as CallEvent;
      got.set(ev.call_id!, [...(got.get(ev.call_id!) ?? []), ev]);
    }
    expect(got.size).toBe(4);
    const tags = new Map<string, string>();
    for (const [callId, events] of got) {
      if (events[0].pbx.type === 'freeswitch') {
        // ESL events carry Event-Date-Timestamp: the same events, field for field, as simulate
        expect(events, callId).toEqual(expected.get(callId));
      } else {
        // these AMI captures carry no Timestamp: times (and so ids) are the receive times
        expect(events.map(shape), callId).toEqual(expected.get(callId)!.map(shape));
      }
      expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
      // one call, one PBX
      expect(new Set(events.map((e) => `${e.pbx.name}/${e.pbx.type}`)).size).toBe(1);
      tags.set(callId, `${events[0].pbx.name}/${events[0].pbx.type}/${events[0].signal.source}`);
      expect(events[events.length - 1].event_name).toBe('call.reporting');
    }
    expect([...tags.values()].sort()).toEqual(['ast-london/asterisk/ami', 'ast-london/asterisk/ami', 'fs-paris/freeswitch/esl', 'fs-paris/freeswitch/esl']);
    // the endpoints tell the PBXes apart too: PJSIP on one, sofia on the other
    for (const [callId, events] of got) {
      const prefix = tags.get(callId)!.startsWith('ast-london') ? 'PJSIP/' : 'sofia/';
      for (const e of events) if (e.endpoint) expect(e.endpoint.startsWith(prefix), `${e.event_name} ${e.endpoint}`).toBe(true);
    }
    // both connections logged in; the secrets never reach the logs
    await daemon.waitForLog((l) => l.msg === 'ESL connected' && l.pbx === 'fs-paris');
    const logs = JSON.stringify(daemon.logs) + daemon.stderr.join('');
    expect(logs).not.toContain('ami-secret');
    expect(logs).not.toContain('esl-secret');
  }, 120_000);
});
