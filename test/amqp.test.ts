/**
 * amqp sinks against a real RabbitMQ (#14): config file -> daemon process -> broker ->
 * a consumer (amqplib). Real calls are replayed from the captures by the fake AMI server.
 * Every message is checked field by field and in per-call order; the broker is stopped for
 * 20 s mid-stream; the daemon is SIGKILLed mid-stream; a wrong password or vhost is a clear
 * log line and a failing /readyz; two daemons on one stream publish the same ids.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { startAmiReplayServer, type AmiReplayServer } from '../src/demo/ami-replay-server.js';
import { readCapture } from '../src/pbx/capture.js';
import { verifySignature } from '../src/delivery/signing.js';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { CLI, spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';
import { consume, drain, durableQueue, rabbit, RABBIT_AVAILABLE, type Consumed } from './helpers/rabbit.js';

const SECRET = 'amqp-test-secret';
const SIGNING = 'whsec_YW1xcC10ZXN0LXNpZ25pbmctc2VjcmV0LTEyMzQ1Njc4';
const TRUNKS = '    trunks: ["PJSIP/caller*", "PJSIP/external*"]\n';
const CALLS = ['a-answered-caller-hangup', 'h-queue-answered', 'f-hold-unhold', 'n-concurrent-calls'];
const captures = () => CALLS.map((c) => readCapture(join('test/fixtures/asterisk', `${c}.ami`)));

const broker = rabbit();
const cleanup: Array<() => unknown> = [];

beforeAll(() => {
  if (RABBIT_AVAILABLE) broker.start();
}, 120_000);
afterAll(async () => {
  while (cleanup.length) await cleanup.pop()!();
  if (RABBIT_AVAILABLE) broker.shutdown();
}, 120_000);

function daemonConfig(amiPort: number, dir: string, sink: string): string {
  return writeConfig(`${asteriskPbxYaml(amiPort, TRUNKS)}
amqp:
${sink}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: "127.0.0.1:0"}
`, dir);
}

const sinkYaml = (exchange: string, url = broker.url, extra = '') => `  - name: bus
    url: ${url}
    exchange: ${exchange}
    events: ["*"]
    signing_secret: ${SIGNING}
    retry: {schedule: [0s, 200ms, 500ms, 1s, 1s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s]}
${extra}`;

async function start(file: string): Promise<{ d: DaemonProcess; url: string }> {
  const d = spawnDaemon(file, [], { AMI_SECRET: SECRET });
  cleanup.push(() => d.stop('SIGKILL'));
  const l = await d.waitForLog((x) => typeof x.url === 'string' && String(x.msg).startsWith('http server listening'), 30_000);
  return { d, url: String(l.url) };
}

/** the store's rows for the sink: what the daemon committed, and whether each left the outbox */
function storeRows(dir: string): Array<{ event_id: string; status: string }> {
  const db = new Database(join(dir, 'store', 'callhook.db'), { readonly: true });
  try {
    return db.prepare("SELECT event_id, status FROM deliveries WHERE webhook = 'bus' ORDER BY id").all() as Array<{ event_id: string; status: string }>;
  } finally {
    db.close();
  }
}

const delivered = (dir: string) => {
  const rows = storeRows(dir);
  return rows.length > 0 && rows.every((r) => r.status === 'delivered');
};

/** per call, the sequence numbers arrive strictly increasing (redeliveries aside) */
function inCallOrder(msgs: Consumed[]): void {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  for (const m of msgs) {
    const id = String(m.properties.messageId);
    if (seen.has(id)) continue; // an at-least-once redelivery
    seen.add(id);
    const h = m.properties.headers as Record<string, unknown>;
    const call = String(h.call_id);
    const seq = Number(h.sequence);
    expect(seq, `call ${call}`).toBeGreaterThan(last.get(call) ?? 0);
    last.set(call, seq);
  }
}

describe.skipIf(!RABBIT_AVAILABLE)('amqp sink on a real RabbitMQ', () => {
  let ami: AmiReplayServer;

  it('every event of real calls, in per-call order, with every field a consumer needs', async () => {
    ami = await startAmiReplayServer({ captures: captures(), secret: SECRET, pace: 'instant' });
    cleanup.push(() => ami.close());
    const consumer = await consume(broker.url, 'calls', '#');
    cleanup.push(() => consumer.close());
    const dir = tempDir();
    await start(daemonConfig(ami.port, dir, sinkYaml('calls')));
    await ami.done;
    await until(() => delivered(dir) && consumer.messages.length >= storeRows(dir).length, 30_000, 'every delivery confirmed and consumed');

    const rows = storeRows(dir);
    const msgs = consumer.messages;
    expect(new Set(msgs.map((m) => m.properties.messageId))).toEqual(new Set(rows.map((r) => r.event_id)));
    expect(rows.length).toBeGreaterThan(20);
    inCallOrder(msgs);
    for (const m of msgs) {
      const ev = JSON.parse(m.body) as CallEvent;
      const h = m.properties.headers as Record<string, unknown>;
      expect(m.routingKey).toBe(`pbx1.${ev.context}.${ev.event_name}`);
      expect(m.properties.messageId).toBe(ev.id);
      expect(m.properties.contentType).toBe('application/json');
      expect(m.properties.deliveryMode).toBe(2); // persistent
      expect(Math.abs(Number(m.properties.timestamp) - Date.now() / 1000)).toBeLessThan(120);
      expect(h).toMatchObject({ call_id: ev.call_id, sequence: ev.sequence, pbx: 'pbx1', 'webhook-id': ev.id });
      expect(verifySignature(SIGNING, ev.id, String(h['webhook-timestamp']), m.body, String(h['webhook-signature']))).toBe(true);
    }
    // a consumer binding one context gets only those
    expect(msgs.some((m) => m.routingKey.startsWith('pbx1.QUEUE.'))).toBe(true);
  }, 90_000);

  it('the broker stopped for 20 s mid-stream: nothing lost, order kept', async () => {
    await durableQueue(broker.url, 'outage', 'outage-q');
    ami = await startAmiReplayServer({ captures: captures(), secret: SECRET, pace: 'recorded', speed: 3 });
    cleanup.push(() => ami.close());
    const dir = tempDir();
    const { d, url } = await start(daemonConfig(ami.port, dir, sinkYaml('outage')));
    await until(() => storeRows(dir).some((r) => r.status === 'delivered'), 30_000, 'the first message confirmed');
    broker.stop();
    const downAt = Date.now();
    await d.waitForLog((l) => /^AMQP sink "bus" cannot use/.test(String(l.msg)), 30_000);
    // readiness says so while the broker is away
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - downAt))));
    broker.start();
    await ami.done;
    await until(() => delivered(dir), 90_000, 'everything confirmed after the broker is back');
    const msgs = await drain(broker.url, 'outage-q');
    const rows = storeRows(dir);
    expect(new Set(msgs.map((m) => m.properties.messageId))).toEqual(new Set(rows.map((r) => r.event_id)));
    inCallOrder(msgs);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^callhook_amqp_connected\{sink="bus"\} 1$/m);
  }, 200_000);

  it('SIGKILL mid-stream: every committed event reaches the broker after the restart', async () => {
    await durableQueue(broker.url, 'crash', 'crash-q');
    ami = await startAmiReplayServer({ captures: captures(), secret: SECRET, pace: 'recorded', speed: 3 });
    cleanup.push(() => ami.close());
    const dir = tempDir();
    const file = daemonConfig(ami.port, dir, sinkYaml('crash'));
    const first = await start(file);
    await until(() => storeRows(dir).filter((r) => r.status === 'delivered').length >= 5, 30_000, 'some messages confirmed');
    first.d.proc.kill('SIGKILL');
    await first.d.exited;
    const committed = storeRows(dir).map((r) => r.event_id);
    await start(file);
    await ami.done;
    await until(() => delivered(dir), 60_000, 'everything confirmed after the restart');
    const ids = new Set((await drain(broker.url, 'crash-q')).map((m) => String(m.properties.messageId)));
    for (const id of committed) expect(ids.has(id), id).toBe(true);
    expect(ids).toEqual(new Set(storeRows(dir).map((r) => r.event_id)));
  }, 120_000);

  it.each([
    ['a wrong password', (u: string) => u.replace('guest:guest', 'guest:wrong'), /ACCESS_REFUSED/],
    ['a vhost that does not exist', (u: string) => `${u}nope`, /NOT_ALLOWED|vhost/i],
  ])('%s: a clear log line and a failing /readyz, and the daemon keeps running', async (_what, mangle, reason) => {
    ami = await startAmiReplayServer({ captures: captures().slice(0, 1), secret: SECRET, pace: 'instant' });
    cleanup.push(() => ami.close());
    const dir = tempDir();
    const { d, url } = await start(daemonConfig(ami.port, dir, sinkYaml('refused', mangle(broker.url))));
    const line = await d.waitForLog((l) => /^AMQP sink "bus" cannot use 127\.0\.0\.1:\d+/.test(String(l.msg)), 30_000);
    expect(String(line.reason)).toMatch(reason);
    expect(JSON.stringify(d.logs)).not.toContain('guest:'); // no credentials in the log
    const r = await fetch(`${url}/readyz`);
    expect(r.status).toBe(503);
    const body = (await r.json()) as { amqp: Array<{ name: string; connected: boolean; error: string }> };
    expect(body.amqp[0]).toMatchObject({ name: 'bus', connected: false });
    expect(body.amqp[0].error).toMatch(reason);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^callhook_amqp_connected\{sink="bus"\} 0$/m);
    // the events wait in the store; the process is alive
    await ami.done;
    await until(() => storeRows(dir).length > 0, 10_000, 'events stored');
    expect(d.proc.exitCode).toBeNull();
  }, 60_000);

  it('two daemons on one PBX stream publish the same message ids (consumers deduplicate by message_id)', async () => {
    ami = await startAmiReplayServer({ captures: captures(), secret: SECRET, pace: 'instant' });
    cleanup.push(() => ami.close());
    ami.pause();
    const consumer = await consume(broker.url, 'pair', '#');
    cleanup.push(() => consumer.close());
    const [dirA, dirB] = [tempDir(), tempDir()];
    const a = await start(daemonConfig(ami.port, dirA, sinkYaml('pair')));
    const b = await start(daemonConfig(ami.port, dirB, sinkYaml('pair')));
    for (const x of [a, b]) await x.d.waitForLog((l) => String(l.msg).startsWith('calls resynchronised'), 30_000);
    ami.resume();
    await ami.done;
    await until(() => delivered(dirA) && delivered(dirB), 30_000, 'both daemons delivered everything');
    const idsA = storeRows(dirA).map((r) => r.event_id);
    const idsB = storeRows(dirB).map((r) => r.event_id);
    expect(new Set(idsA)).toEqual(new Set(idsB));
    await until(() => consumer.messages.length >= idsA.length + idsB.length, 10_000, 'both copies consumed');
    const count = new Map<string, number>();
    for (const m of consumer.messages) count.set(String(m.properties.messageId), (count.get(String(m.properties.messageId)) ?? 0) + 1);
    expect([...count.values()].every((n) => n === 2)).toBe(true);
  }, 90_000);

  it('added to the YAML and reloaded (SIGHUP): the consumer gets the calls from then on', async () => {
    ami = await startAmiReplayServer({ captures: captures(), secret: SECRET, pace: 'instant' });
    cleanup.push(() => ami.close());
    ami.pause();
    const consumer = await consume(broker.url, 'reloaded', '#');
    cleanup.push(() => consumer.close());
    const dir = tempDir();
    const file = writeConfig(`${asteriskPbxYaml(ami.port, TRUNKS)}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: "127.0.0.1:0"}
`, dir);
    const { d } = await start(file);
    writeFileSync(file, `${readFileSync(file, 'utf8')}amqp:\n${sinkYaml('reloaded')}`);
    d.proc.kill('SIGHUP');
    await d.waitForLog((l) => l.msg === 'config reloaded', 10_000);
    await d.waitForLog((l) => /^AMQP sink "bus" connected/.test(String(l.msg)), 10_000);
    ami.resume();
    await ami.done;
    await until(() => delivered(dir) && consumer.messages.length >= storeRows(dir).length, 30_000, 'the calls on the bus');
    expect(new Set(consumer.messages.map((m) => m.properties.messageId))).toEqual(new Set(storeRows(dir).map((r) => r.event_id)));
    inCallOrder(consumer.messages);
  }, 60_000);

  it('callhook send-test publishes one sample event with confirms and prints it', async () => {
    const consumer = await consume(broker.url, 'sendtest', '#');
    cleanup.push(() => consumer.close());
    const file = writeConfig(`${asteriskPbxYaml(1, TRUNKS)}
amqp:
${sinkYaml('sendtest')}`);
    const r = spawnSync(process.execPath, [CLI, 'send-test', '--config', file, '--webhook', 'bus', '--event', 'call.hangup'], { encoding: 'utf8', env: { ...process.env, AMI_SECRET: SECRET }, timeout: 30_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^publish to 127\.0\.0\.1:\d+\/ exchange sendtest routing key pbx1\.LOCAL_USER\.call\.hangup/);
    expect(r.stdout).toMatch(/-> confirmed by the broker in \d+ ms/);
    await until(() => consumer.messages.length === 1, 10_000, 'the sample message');
    expect(consumer.messages[0].routingKey).toBe('pbx1.LOCAL_USER.call.hangup');
    // a refused one says why and exits 1
    const bad = writeConfig(`${asteriskPbxYaml(1, TRUNKS)}
amqp:
${sinkYaml('sendtest', broker.url.replace('guest:guest', 'guest:nope'))}`);
    const f = spawnSync(process.execPath, [CLI, 'send-test', '--config', bad, '--webhook', 'bus'], { encoding: 'utf8', env: { ...process.env, AMI_SECRET: SECRET }, timeout: 30_000 });
    expect(f.status).toBe(1);
    expect(f.stdout).toMatch(/-> failed: AMQP 127\.0\.0\.1:\d+\/: .*ACCESS_REFUSED/);
  }, 60_000);

  it('callhook deliveries and replay work on an amqp sink as on a webhook', async () => {
    ami = await startAmiReplayServer({ captures: captures().slice(0, 1), secret: SECRET, pace: 'instant' });
    cleanup.push(() => ami.close());
    const consumer = await consume(broker.url, 'replayed', '#');
    cleanup.push(() => consumer.close());
    const dir = tempDir();
    const file = daemonConfig(ami.port, dir, sinkYaml('replayed'));
    await start(file);
    await ami.done;
    await until(() => delivered(dir) && consumer.messages.length >= storeRows(dir).length, 30_000, 'the call on the bus');
    const n = storeRows(dir).length;
    const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--config', file], { encoding: 'utf8', env: { ...process.env, AMI_SECRET: SECRET }, timeout: 30_000 });
    const list = cli(['deliveries', '--webhook', 'bus', '--json', '--limit', '1000']);
    expect(list.status, list.stderr).toBe(0);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { url: string; status: string });
    expect(rows).toHaveLength(n);
    expect(rows.every((r) => r.status === 'delivered' && /^pbx1\.[A-Z_]+\.[a-z_.]+$/.test(r.url))).toBe(true); // the routing key
    const again = cli(['replay', '--webhook', 'bus', '--since', '1h']);
    expect(again.stdout).toBe(`re-queued ${n} deliveries for bus\n`);
    // the running daemon notices and publishes them again, same ids
    await until(() => consumer.messages.length >= 2 * n, 30_000, 'the replayed messages');
    const ids = consumer.messages.map((m) => String(m.properties.messageId));
    expect(new Set(ids.slice(n))).toEqual(new Set(ids.slice(0, n)));
  }, 60_000);

  it('filter, format, token and enabled apply to an amqp sink as to a webhook', async () => {
    ami = await startAmiReplayServer({ captures: captures(), secret: SECRET, pace: 'instant' });
    cleanup.push(() => ami.close());
    const consumer = await consume(broker.url, 'shaped', '#');
    cleanup.push(() => consumer.close());
    const off = await consume(broker.url, 'off', '#');
    cleanup.push(() => off.close());
    const dir = tempDir();
    await start(daemonConfig(ami.port, dir, `${sinkYaml('shaped', broker.url, '    format: voiso\n    token: shared-key\n    filter: {context: [LOCAL_USER]}\n')}  - name: off
    url: ${broker.url}
    exchange: off
    events: ["*"]
    enabled: false
`));
    await ami.done;
    await until(() => delivered(dir) && consumer.messages.length >= storeRows(dir).length, 30_000, 'the filtered, shaped messages');
    expect(consumer.messages.length).toBeGreaterThan(0);
    for (const m of consumer.messages) {
      expect(m.routingKey).toMatch(/^pbx1\.LOCAL_USER\./); // the filter
      const body = JSON.parse(m.body) as { name: string; event: string; key: string };
      expect(Object.keys(body)).toEqual(expect.arrayContaining(['name', 'event', 'entity', 'timestamp', 'key', 'payload'])); // the voiso envelope
      expect(body.key).toBe('shared-key'); // the token
    }
    expect(off.messages).toEqual([]); // a disabled sink gets nothing
  }, 60_000);
});
