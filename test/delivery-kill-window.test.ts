/**
 * No window between an event and its commit: the daemon (a child process) takes in a stream
 * of real calls while its receiver cannot take them; the moment its own /metrics counts the
 * whole stream it is killed with SIGKILL. Restarted with a working receiver, every event
 * arrives. Once with the receiver down (503), once with it slow.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAmiReplayServer, type ReplayCapture } from '../src/demo/ami-replay-server.js';
import { readCapture } from '../src/pbx/capture.js';
import { spawnSync } from 'node:child_process';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { CLI, spawnDaemon } from './helpers/daemon.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const FIX = 'test/fixtures/asterisk';
const CALLS = ['a-answered-caller-hangup', 'b-answered-agent-hangup', 'c-no-answer-dial-timeout', 'f-hold-unhold', 'g-dtmf-info-midcall', 'h-queue-answered', 'n-concurrent-calls'];
/** events counted before the kill: many socket reads' worth */
const N = 3_000;
const TRUNKS = '    trunks: ["PJSIP/caller*", "PJSIP/external*"]\n';

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

function eventsTotal(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('callhook_events_total{')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

describe.each([
  ['down (503)', () => (_q: unknown, res: import('node:http').ServerResponse) => void res.writeHead(503).end('down')],
  ['slow', () => (_q: unknown, res: import('node:http').ServerResponse) => void setTimeout(() => res.writeHead(200).end('ok'), 3_000)],
] as const)('kill -9 the moment the metric shows N events, receiver %s', (_name, handler) => {
  it('every event the daemon counted is in the store, and is delivered after a restart', async () => {
    // real calls, replayed over and over as fast as the socket takes them
    const captures: ReplayCapture[] = CALLS.map((c) => ({ bytes: readCapture(join(FIX, `${c}.ami`)).bytes }));
    const ami = await startAmiReplayServer({ captures, secret: 's3cret', pace: 'instant', loop: true });
    cleanup.push(() => ami.close());
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    receiver.setHandler(handler());
    const dir = tempDir();
    const file = writeConfig(`${asteriskPbxYaml(ami.port, TRUNKS)}
webhooks:
  - name: crm
    url: ${receiver.url}/h
    events: ["*"]
    timeout: 30s
    retry: {schedule: [0s, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms]}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: "127.0.0.1:0"}
`, dir);
    const d1 = spawnDaemon(file, [], { AMI_SECRET: 's3cret' });
    cleanup.push(() => d1.stop('SIGKILL'));
    const listening = await d1.waitForLog((l) => typeof l.url === 'string' && String(l.msg).startsWith('http server listening'), 30_000);
    // read the daemon's own count; kill it the moment that answer says N
    let seen = 0;
    for (;;) {
      seen = eventsTotal(await (await fetch(`${listening.url}/metrics`)).text());
      if (seen >= N) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    d1.proc.kill('SIGKILL');
    expect(await d1.exited).toBe('SIGKILL');
    await ami.close();

    // what the store holds: every event counted, for the one webhook (no window)
    const list = spawnSync(process.execPath, [CLI, 'deliveries', '--config', file, '--json', '--limit', '1000000'], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, AMI_SECRET: 's3cret' } });
    expect(list.status, list.stderr).toBe(0);
    const rows = list.stdout.trim().split('\n').filter(Boolean).length;
    expect(rows).toBeGreaterThanOrEqual(seen);

    // restarted with a receiver that takes everything (and no PBX): all of it arrives
    receiver.setHandler((_q, res) => void res.writeHead(200).end('ok'));
    const d2 = spawnDaemon(file, [], { AMI_SECRET: 's3cret' });
    cleanup.push(() => d2.stop('SIGKILL'));
    const url2 = (await d2.waitForLog((l) => typeof l.url === 'string' && String(l.msg).startsWith('http server listening'), 30_000)).url;
    // the daemon's own gauge says how many are left; it must keep going down until none are
    // (a stall of 60 s fails, a slow machine does not)
    const left = async () => {
      let n = 0;
      for (const line of (await (await fetch(`${url2}/metrics`)).text()).split('\n')) if (line.startsWith('callhook_outbox_pending{')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
      return n;
    };
    let last = Infinity;
    let progressAt = Date.now();
    for (let n = await left(); n > 0; n = await left()) {
      if (n < last) [last, progressAt] = [n, Date.now()];
      if (Date.now() - progressAt > 60_000) throw new Error(`no delivery for 60 s, ${n} still pending`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const pending = spawnSync(process.execPath, [CLI, 'deliveries', '--config', file, '--status', 'pending', '--json', '--limit', '1000000'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    expect(pending.stdout.trim()).toBe('');
  });
});
