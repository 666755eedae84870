/**
 * End to end, as an operator runs it against FreeSWITCH: an ESL server on 127.0.0.1 (auth,
 * then the real capture bytes), the real daemon as a child process configured by YAML, and
 * a real HTTP receiver. Checks that every scenario's webhooks arrive, signed, in order
 * within each call, equal to what `simulate` gives for the same bytes; that a dropped
 * connection is re-established and resynced with `show channels as json`; and that the
 * login resync is applied at its place in the stream (events right behind the reply are
 * not taken for legs that ended while disconnected).
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import type { Signal } from '../src/calls/signals.js';
import { verifySignature } from './helpers/verify.js';
import { createTracker } from '../src/pipeline.js';
import { ROUTING_WAIT_MS } from '../src/calls/tracker.js';
import { EslConnection } from '../src/pbx/esl/connection.js';
import { freeswitchDemoPbxYaml, startFreeswitchDemoReplay } from '../src/demo/freeswitch-replay.js';
import { eventFrames, startEslReplayServer, type EslReplayServer } from '../src/demo/esl-replay-server.js';
import { simulate } from '../src/simulate.js';
import { configFrom, tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';
import { eslCapture, FS_SCENARIOS, FS_TRUNKS, fsCapture } from './helpers/freeswitch.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const SIGNING = 'whsec_dGVzdC1zaWduaW5nLXNlY3JldC1mb3ItY2FsbGhvb2s=';
const ESL_PASSWORD = 'esl-Pa55word';

function daemonYaml(port: number, receiverUrl: string, dir: string, format: 'plain' | 'json' = 'json'): string {
  return `
pbx:
  - name: fs1
    type: freeswitch
    host: 127.0.0.1
    port: ${port}
    secret: \${ESL_PASSWORD}
    event_format: ${format}
    trunks: ${JSON.stringify(FS_TRUNKS)}
    ping_interval: 1s
webhooks:
  - name: crm
    url: ${receiverUrl}/hooks/calls
    events: ["*"]
    signing_secret: ${SIGNING}
    headers: {Authorization: "Bearer crm-token-xyz"}
    retry: {schedule: [0s, 100ms, 200ms]}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
log: {level: info}
`;
}

const shape = (e: CallEvent) => [e.event_name, e.context, e.state ?? '-', e.endpoint ?? '-'].join(' ');
const isConnectedLog = (l: Record<string, unknown>) => l.msg === 'ESL connected';

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

async function setup(port: number, format: 'plain' | 'json' = 'json'): Promise<{ receiver: Receiver; daemon: DaemonProcess }> {
  const receiver = await startReceiver();
  cleanup.push(() => receiver.close());
  const dir = tempDir();
  const daemon = spawnDaemon(writeConfig(daemonYaml(port, receiver.url, dir, format), dir), [], { ESL_PASSWORD });
  cleanup.push(() => daemon.stop());
  return { receiver, daemon };
}

async function replay(files: string[], opts: Partial<Parameters<typeof startEslReplayServer>[0]> = {}): Promise<EslReplayServer> {
  const server = await startEslReplayServer({ captures: files.map(eslCapture), password: ESL_PASSWORD, pace: 'instant', ...opts });
  cleanup.push(() => server.close());
  return server;
}

const bodies = (r: Receiver) => r.requests.map((q) => JSON.parse(q.body) as CallEvent);

describe('daemon end to end against an ESL endpoint replaying the real FreeSWITCH captures', () => {
  it.each(['json', 'plain'] as const)('delivers signed webhooks for every scenario (event %s), in order per call, equal to simulate', async (format) => {
    const files = FS_SCENARIOS.map((s) => fsCapture(s, format));
    const esl = await replay(files);
    const { receiver, daemon } = await setup(esl.port, format);

    // what the same bytes give offline, per call
    const config = configFrom(daemonYaml(1, 'http://127.0.0.1:1', tempDir(), format), { ESL_PASSWORD: 'x' });
    const expected = new Map<string, CallEvent[]>();
    let total = 0;
    for (const f of files) {
      for (const e of await simulate('freeswitch', f, config)) {
        expected.set(e.call_id!, [...(expected.get(e.call_id!) ?? []), e]);
        total++;
      }
    }
    await until(() => receiver.requests.length >= total, 20_000, `${total} webhooks`);
    await new Promise((r) => setTimeout(r, 300)); // nothing extra arrives
    expect(receiver.requests.length).toBe(total);

    const got = new Map<string, CallEvent[]>();
    for (const r of receiver.requests) {
      expect(r.method).toBe('POST');
      expect(r.headers['authorization']).toBe('Bearer crm-token-xyz');
      const ok = verifySignature(SIGNING, String(r.headers['webhook-id']), String(r.headers['webhook-timestamp']), r.body, String(r.headers['webhook-signature']));
      expect(ok, 'signature verifies').toBe(true);
      const ev = JSON.parse(r.body) as CallEvent;
      expect(r.headers['webhook-id']).toBe(ev.id);
      got.set(ev.call_id!, [...(got.get(ev.call_id!) ?? []), ev]);
    }
    expect(new Set(got.keys())).toEqual(new Set(expected.keys()));
    for (const [callId, events] of got) {
      // in order within each call: sequence 1, 2, 3, ...
      expect(events.map((e) => e.sequence), callId).toEqual(events.map((_, i) => i + 1));
      // the same events, field for field (ids included), as simulate gives for these bytes
      expect(events, callId).toEqual(expected.get(callId));
      expect(events.every((e) => e.pbx.name === 'fs1' && e.pbx.type === 'freeswitch')).toBe(true);
    }
    // 14 scenarios, l has three calls
    expect(got.size).toBe(16);

    // the ESL password and the auth header never reach the logs
    await daemon.waitForLog((l) => l.webhook === 'crm' && l.status === 200);
    const allLogs = JSON.stringify(daemon.logs) + daemon.stderr.join('');
    expect(allLogs).not.toContain(ESL_PASSWORD);
    expect(allLogs).not.toContain('crm-token-xyz');
    expect(allLogs).not.toContain('dGVzdC1zaWduaW5n');
  }, 120_000);

  it('reconnects after the connection drops mid-call, resyncs with show channels, and the call completes', async () => {
    const esl = await replay([fsCapture('f-hold-unhold')], { pace: 'recorded', speed: 4 });
    const { receiver, daemon } = await setup(esl.port);
    const names = () => bodies(receiver).map((e) => e.event_name);
    await until(() => names().includes('call.connected'), 15_000, 'call.connected');
    esl.pause();
    esl.dropClients();
    await daemon.waitForLog((l) => typeof l.msg === 'string' && /reconnect scheduled/.test(l.msg), 5_000);
    // the client comes back by itself (first retry within a second), logs in and resyncs
    await until(() => daemon.logs.filter(isConnectedLog).length >= 2, 5_000, 'a second ESL login');
    const second = daemon.logs.filter(isConnectedLog)[1];
    expect(second.liveChannels).toBe(2); // caller + agent1, from `show channels as json`
    expect(daemon.proc.exitCode, 'the daemon kept running while disconnected').toBeNull();
    esl.resume();
    await until(() => names().includes('call.reporting'), 15_000, 'call.reporting');
    expect(bodies(receiver).map(shape)).toEqual([
      'call.initial LOCAL_USER INITIAL sofia/internal/agent1',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent1',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent1',
      'call.hold LOCAL_USER ON_HOLD sofia/internal/agent1',
      'call.unhold LOCAL_USER CONNECTED sofia/internal/agent1',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent1',
      'call.reporting CALL - sofia/internal/agent1',
    ]);
    expect(bodies(receiver).every((e) => e.signal.reconciled === undefined)).toBe(true);
  }, 120_000);

  it('closes a call that ended while disconnected with a hangup marked reconciled', async () => {
    const file = fsCapture('a-answered-caller-bye');
    const frames = eventFrames([eslCapture(file)]);
    const firstHangup = frames.findIndex((f) => f.event?.['Event-Name'] === 'CHANNEL_HANGUP');
    expect(firstHangup).toBeGreaterThan(0);
    // after the drop the PBX reports no live channel: the call ended meanwhile. (At the first
    // login it reports what it has: events may reach the daemon before its show-channels reply.)
    let dropped = false;
    const esl = await replay([file], { showChannels: (atPosition) => (dropped ? '{"row_count":0}' : atPosition) });
    esl.pauseAt(firstHangup);
    const { receiver, daemon } = await setup(esl.port);
    await until(() => bodies(receiver).some((e) => e.event_name === 'call.connected'), 10_000, 'call.connected');
    const droppedAt = Date.now();
    dropped = true;
    esl.dropClients();
    await until(() => bodies(receiver).some((e) => e.event_name === 'call.reporting'), 10_000, 'call.reporting after resync');
    const reconnectedAt = Date.now();
    await until(() => daemon.logs.filter(isConnectedLog).length >= 2, 10_000, 'the reconnect log line');
    const ev = bodies(receiver);
    expect(ev.map(shape)).toEqual([
      'call.initial LOCAL_USER INITIAL sofia/internal/agent1',
      'call.ringing LOCAL_USER RINGING sofia/internal/agent1',
      'call.connected LOCAL_USER CONNECTED sofia/internal/agent1',
      'call.hangup LOCAL_USER HANGUP sofia/internal/agent1',
      'call.reporting CALL - sofia/internal/agent1',
    ]);
    expect(ev[3].signal).toMatchObject({ event: 'resync', reconciled: true });
    // it ended at the latest when the connection was lost (on the PBX's clock), not at the
    // reconnect; what callhook could not see is null
    const lastSeen = Date.parse(ev[2].event_time);
    const ended = Date.parse(ev[3].ended_at!);
    expect(ended).toBeGreaterThanOrEqual(lastSeen);
    expect(ended - lastSeen).toBeLessThan(reconnectedAt - droppedAt + 2_000);
    expect(ev[3].sip_status).toBeNull();
    expect(ev[3].hangup_cause).toBeNull();
  }, 120_000);
});

describe('the login resync is applied where its reply ends in the stream', () => {
  it('a CHANNEL_CREATE in the same TCP write as the show-channels reply comes after the resync, and its leg stays open', async () => {
    // a real CHANNEL_CREATE (agent1's B-leg of capture a), as FreeSWITCH sends it in `event json`
    const frames = eventFrames([eslCapture(fsCapture('a-answered-caller-bye'))]);
    const create = frames.find((f) => f.event?.['Event-Name'] === 'CHANNEL_CREATE' && f.event['Call-Direction'] === 'outbound')!;
    expect(create).toBeDefined();
    const server = createServer((sock: Socket) => {
      sock.on('error', () => undefined);
      sock.write('Content-Type: auth/request\n\n');
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const cmd = buf.slice(0, i).trim();
          buf = buf.slice(i + 2);
          if (cmd.startsWith('auth ')) sock.write('Content-Type: command/reply\nReply-Text: +OK accepted\n\n');
          else if (cmd.startsWith('event ')) sock.write('Content-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n');
          else if (cmd === 'api show channels as json') {
            const body = '{"row_count":0}';
            // one write: the reply, then an event that happened right after the snapshot
            sock.write(Buffer.concat([Buffer.from(`Content-Type: api/response\nContent-Length: ${body.length}\n\n${body}`), create.bytes]));
          } else if (cmd.startsWith('api ')) {
            const body = '+OK\n';
            sock.write(`Content-Type: api/response\nContent-Length: ${body.length}\n\n${body}`);
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(() => r(undefined))));
    const port = (server.address() as AddressInfo).port;

    const config = configFrom(daemonYaml(port, 'http://127.0.0.1:1', tempDir()), { ESL_PASSWORD });
    const tracker = createTracker(config.pbx[0], config);
    const signals: Signal[] = [];
    const events: CallEvent[] = [];
    const conn = new EslConnection(config.pbx[0], (_pbx, sigs) => {
      for (const s of sigs) {
        signals.push(s);
        events.push(...tracker.apply(s));
      }
    }, pino({ level: 'silent' }), []);
    cleanup.push(() => conn.stop());
    conn.start();
    await until(() => signals.some((s) => s.kind === 'leg.created'), 5_000, 'the CHANNEL_CREATE');

    expect(signals.map((s) => s.kind)).toEqual(['resync', 'leg.created', 'leg.dialed']);
    // the new leg is live: no reconciled hangup for it (its call.initial waits for routing, at most ROUTING_WAIT_MS)
    expect(events).toEqual([]);
    events.push(...tracker.apply({ kind: 'tick', time: 0, pbxEvent: 'tick' }), ...tracker.apply({ kind: 'tick', time: ROUTING_WAIT_MS, pbxEvent: 'tick' }));
    expect(events.map(shape)).toEqual(['call.initial LOCAL_USER INITIAL sofia/internal/agent1']);
    expect(tracker.activeLegs).toBe(1);
    expect(conn.stats().connected).toBe(true);
  }, 120_000);
});

describe("the demo's FreeSWITCH replay (src/demo/freeswitch-replay.ts)", () => {
  it('replays the bundled captures to a daemon PBX entry built from its YAML: every call completes', async () => {
    const replay = await startFreeswitchDemoReplay({ speed: 100 });
    cleanup.push(() => replay.close());
    expect(replay.scenarios).toEqual(['a-answered-caller-bye', 'c-ring-no-answer-timeout', 'f-hold-unhold', 'g-dtmf-info', 'h-queue-answered', 'i-queue-abandoned']);
    const config = configFrom(['pbx:', ...freeswitchDemoPbxYaml(replay), 'webhooks: []', 'storage: {path: /tmp/callhook-unused}', ''].join('\n'));
    const tracker = createTracker(config.pbx[0], config);
    const events: CallEvent[] = [];
    const conn = new EslConnection(config.pbx[0], (_pbx, sigs) => {
      for (const s of sigs) events.push(...tracker.apply(s));
    }, pino({ level: 'silent' }), []);
    cleanup.push(() => conn.stop());
    conn.start();
    await replay.done;
    await until(() => events.filter((e) => e.event_name === 'call.reporting').length >= 6, 5_000, 'six call.reporting');
    const reports = events.filter((e) => e.event_name === 'call.reporting');
    expect(reports.map((e) => e.reporting?.cause)).toEqual(['answer', 'no_answer', 'answer', 'answer', 'answer', 'cancel']);
    expect(events.every((e) => e.direction === 'in' && e.pbx.name === 'demo-freeswitch')).toBe(true);
  }, 120_000);
});
