/**
 * End to end, as an operator runs it: a TCP server speaking AMI (login, then the real
 * capture bytes), the real daemon as a child process configured by YAML, and a real HTTP
 * receiver on 127.0.0.1. Checks that every scenario's webhooks arrive, signed, in order
 * within each call, and match what `simulate` gives for the same bytes.
 */
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { verifySignature } from './helpers/verify.js';
import { readCapture } from '../src/pbx/capture.js';
import { startAmiReplayServer, type AmiReplayServer } from '../src/demo/ami-replay-server.js';
import { simulate } from '../src/simulate.js';
import { asteriskPbxYaml, configFrom, tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const FIX = 'test/fixtures/asterisk';
const SCENARIOS = [
  'a-answered-caller-hangup', 'b-answered-agent-hangup', 'c-no-answer-dial-timeout', 'd-agent-busy-486', 'e-caller-cancel-while-ringing',
  'f-hold-unhold', 'g-dtmf-info-midcall', 'h-queue-answered', 'i-queue-abandoned', 'j-queue-timeout', 'k-ivr-digits-then-agent',
  'l-ami-originate-outbound', 'm-blind-transfer-refer', 'n-concurrent-calls', 'o-status-coreshowchannels-midcall', 'p-shutdown-midcall', 'q-ami-originate-agent-busy',
];
const SIGNING = 'whsec_dGVzdC1zaWduaW5nLXNlY3JldC1mb3ItY2FsbGhvb2s=';

function daemonYaml(port: number, receiverUrl: string, dir: string, extra = ''): string {
  return `${asteriskPbxYaml(port, '    trunks: ["PJSIP/caller*", "PJSIP/external*"]\n    ping_interval: 1s')}
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
${extra}`;
}

const shape = (e: CallEvent) => [e.event_name, e.context, e.state ?? '-', e.endpoint ?? '-'].join(' ');

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

async function setup(server: { port: number }, extra = ''): Promise<{ receiver: Receiver; daemon: DaemonProcess }> {
  const receiver = await startReceiver();
  cleanup.push(() => receiver.close());
  const dir = tempDir();
  const daemon = spawnDaemon(writeConfig(daemonYaml(server.port, receiver.url, dir, extra), dir), [], { AMI_SECRET: 'bridge-secret' });
  cleanup.push(() => daemon.stop());
  return { receiver, daemon };
}

describe('daemon end to end against an AMI endpoint replaying the real captures', () => {
  it('delivers signed webhooks for every scenario, in order per call, matching simulate', async () => {
    const ami: AmiReplayServer = await startAmiReplayServer({
      captures: SCENARIOS.map((s) => readCapture(`${FIX}/${s}.ami`)).map((c) => ({ bytes: c.bytes })),
      username: 'callhook',
      secret: 'bridge-secret',
      pace: 'instant',
    });
    cleanup.push(() => ami.close());
    const { receiver, daemon } = await setup(ami);

    // what the same bytes give offline, per call
    const config = configFrom(daemonYaml(1, 'http://127.0.0.1:1', tempDir()), { AMI_SECRET: 'x' });
    const expected = new Map<string, string[]>();
    let total = 0;
    for (const s of SCENARIOS) {
      for (const e of await simulate('asterisk', `${FIX}/${s}.ami`, config)) {
        expected.set(e.call_id!, [...(expected.get(e.call_id!) ?? []), shape(e)]);
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
      expect(r.headers['content-type']).toMatch(/application\/json/);
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
      expect(events.map(shape), callId).toEqual(expected.get(callId));
      expect(events.every((e) => e.pbx.name === 'pbx1' && e.pbx.type === 'asterisk')).toBe(true);
    }

    // logs: one line per delivery attempt; the AMI secret and the auth header never appear
    await daemon.waitForLog((l) => l.webhook === 'crm' && l.status === 200);
    const allLogs = JSON.stringify(daemon.logs) + daemon.stderr.join('');
    expect(allLogs).not.toContain('bridge-secret');
    expect(allLogs).not.toContain('crm-token-xyz');
    expect(allLogs).not.toContain('dGVzdC1zaWduaW5n');
  }, 120_000);

  it('reconnects after the connection drops mid-call, resyncs, and the call completes', async () => {
    const ami = await startAmiReplayServer({
      captures: [readCapture(`${FIX}/f-hold-unhold.ami`)].map((c) => ({ bytes: c.bytes, chunks: c.chunks ?? undefined })),
      username: 'callhook',
      secret: 'bridge-secret',
      pace: 'recorded',
      speed: 2,
    });
    cleanup.push(() => ami.close());
    const { receiver, daemon } = await setup(ami);
    const names = () => receiver.requests.map((r) => (JSON.parse(r.body) as CallEvent).event_name);
    await until(() => names().includes('call.connected'), 15_000, 'call.connected');
    ami.pause();
    ami.dropClients();
    expect(ami.liveChannels().length).toBe(2);
    await daemon.waitForLog((l) => typeof l.msg === 'string' && /disconnect|closed|lost/i.test(l.msg), 5_000);
    // the client comes back by itself (first retry within a second) and logs in again
    await until(() => daemon.logs.filter((l) => typeof l.msg === 'string' && /logged in/.test(l.msg)).length >= 2, 5_000, 'a second login');
    ami.resume();
    await until(() => names().includes('call.reporting'), 20_000, 'call.reporting');
    expect(names()).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hold', 'call.unhold', 'call.hangup', 'call.reporting']);
    const hangup = receiver.requests.map((r) => JSON.parse(r.body) as CallEvent).find((e) => e.event_name === 'call.hangup')!;
    expect(hangup.signal.reconciled).toBeUndefined();
  }, 120_000);

  it('closes calls that ended while disconnected with a hangup marked reconciled', async () => {
    // first connection: the capture up to the bridged call; second: CoreShowChannels says nothing is live
    const bytes = readCapture(`${FIX}/a-answered-caller-hangup.ami`).bytes;
    const cut = bytes.indexOf('Event: HangupRequest');
    let connections = 0;
    const server = createServer((sock: Socket) => {
      connections++;
      const first = connections === 1;
      sock.write('Asterisk Call Manager/13.0.0\r\n');
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString();
        let end;
        while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
          const msg = buf.slice(0, end);
          buf = buf.slice(end + 4);
          const id = /ActionID: (.*)/i.exec(msg)?.[1] ?? '';
          const action = /Action: (.*)/i.exec(msg)?.[1]?.toLowerCase();
          if (action === 'login') {
            sock.write(`Response: Success\r\nActionID: ${id}\r\nMessage: Authentication accepted\r\n\r\n`);
          } else if (action === 'coreshowchannels') {
            sock.write(`Response: Success\r\nActionID: ${id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n`);
            sock.write(`Event: CoreShowChannelsComplete\r\nActionID: ${id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n`);
            if (first) {
              // the call's bytes up to the hangup (skipping the capture's banner and login response), then drop
              const start = bytes.indexOf('Event: FullyBooted');
              sock.write(bytes.subarray(start, cut), () => setTimeout(() => sock.destroy(), 200));
            }
          } else if (action === 'ping') {
            sock.write(`Response: Success\r\nActionID: ${id}\r\nPing: Pong\r\n\r\n`);
          }
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const port = (server.address() as AddressInfo).port;
    const { receiver } = await setup({ port });
    const events = () => receiver.requests.map((r) => JSON.parse(r.body) as CallEvent);
    await until(() => events().some((e) => e.event_name === 'call.reporting'), 15_000, 'call.reporting after resync');
    expect(connections).toBeGreaterThanOrEqual(2);
    const ev = events();
    expect(ev.map((e) => e.event_name)).toEqual(['call.initial', 'call.ringing', 'call.connected', 'call.hangup', 'call.reporting']);
    const hangup = ev[3];
    expect(hangup.signal.reconciled).toBe(true);
    expect(hangup.endpoint).toBe('PJSIP/agent1');
    expect(hangup.state).toBe('HANGUP');
  }, 120_000);
});
