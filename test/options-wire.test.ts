/**
 * Documented options, over the wire: a YAML file, the real daemon as a child process, an AMI
 * server replaying real Asterisk captures, a real HTTP receiver on 127.0.0.1, and the real
 * CLI. Each test is an option a user sets and what they would then see at the receiver, in
 * /metrics or on the terminal.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { readCapture } from '../src/pbx/capture.js';
import { startAmiReplayServer, type ReplayCapture } from '../src/demo/ami-replay-server.js';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { CLI, spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const FIX = 'test/fixtures/asterisk';
const SECRET = 's3cret';

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

function capture(name: string): ReplayCapture {
  const c = readCapture(join(FIX, `${name}.ami`));
  return { bytes: c.bytes, chunks: c.chunks ?? undefined };
}

/** capture `name` with `frame` inserted before the first message of event `before` */
function withFrame(name: string, before: string, frame: string): ReplayCapture {
  const { bytes } = readCapture(join(FIX, `${name}.ami`));
  const at = bytes.indexOf(`\r\nEvent: ${before}\r\n`) + 2;
  return { bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from(frame.replace(/\n/g, '\r\n')), bytes.subarray(at)]) };
}

async function amiServer(captures: ReplayCapture[], opts: { loop?: boolean; pace?: 'instant' | 'recorded'; speed?: number } = {}) {
  const server = await startAmiReplayServer({ captures, secret: SECRET, pace: opts.pace ?? 'instant', speed: opts.speed, loop: opts.loop });
  cleanup.push(() => server.close());
  return server;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanup.push(() => r.close());
  return r;
}

const pbxYaml = asteriskPbxYaml;

function start(yaml: string, env: NodeJS.ProcessEnv = { AMI_SECRET: SECRET }): { daemon: DaemonProcess; file: string; dir: string } {
  const dir = tempDir();
  const file = writeConfig(yaml.replace('@STORE@', JSON.stringify(join(dir, 'store'))), dir);
  const daemon = spawnDaemon(file, [], env);
  cleanup.push(() => daemon.stop('SIGKILL'));
  return { daemon, file, dir };
}

const events = (r: Receiver): CallEvent[] => r.requests.map((q) => JSON.parse(q.body) as CallEvent);

describe('webhooks[].url templates', () => {
  it('each POST goes to the URL filled in from its event, as `callhook deliveries` shows it', async () => {
    const ami = await amiServer([capture('a-answered-caller-hangup')]);
    const rec = await receiver();
    const { daemon, file } = start(`${pbxYaml(ami.port)}
webhooks:
  - name: crm
    url: ${rec.url}/hooks/{{pbx.name}}/{{call_id}}?leg={{leg_id}}
    events: ["*"]
storage: {path: @STORE@}
http: {listen: off}
`);
    await until(() => rec.requests.some((q) => JSON.parse(q.body).event_name === 'call.reporting'), 20_000, 'call.reporting');
    for (const q of rec.requests) {
      const ev = JSON.parse(q.body) as CallEvent;
      expect(q.url).toBe(`/hooks/pbx1/${encodeURIComponent(ev.call_id!)}?leg=${ev.leg_id === null ? '' : encodeURIComponent(ev.leg_id)}`);
    }
    await daemon.stop();
    const list = spawnSync(process.execPath, [CLI, 'deliveries', '--config', file, '--json'], { encoding: 'utf8' });
    expect(list.status).toBe(0);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { url: string; event_id: string });
    const sent = new Map(rec.requests.map((q) => [JSON.parse(q.body).id as string, `${rec.url}${q.url}`]));
    expect(rows.length).toBe(rec.requests.length);
    for (const row of rows) expect(row.url).toBe(sent.get(row.event_id));
  }, 60_000);
});

describe('reload reaches the call trackers', () => {
  it('a trunk glob added by SIGHUP applies to the next calls on the same connection', async () => {
    // the same real call over and over, at 20x its recorded pace
    const c = capture('a-answered-caller-hangup');
    const ami = await amiServer([c], { loop: true, pace: 'recorded', speed: 20 });
    const rec = await receiver();
    const yaml = (trunks: string) => `${pbxYaml(ami.port, `    trunks: ${trunks}\n`)}
webhooks:
  - name: crm
    url: ${rec.url}/h
    events: ["*"]
storage: {path: @STORE@}
http: {listen: off}
`;
    const { daemon, file, dir } = start(yaml('[]'));
    const reportings = () => events(rec).filter((e) => e.event_name === 'call.reporting').length;
    await until(() => reportings() >= 1, 30_000, 'the first call');
    const first = events(rec).filter((e) => e.event_name === 'call.initial');
    expect(first.map((e) => `${e.context} ${e.endpoint}`)).toContain('LOCAL_USER PJSIP/caller');
    expect(first.every((e) => e.direction === 'internal')).toBe(true);

    ami.pause();
    writeFileSync(file, yaml('["PJSIP/caller*"]').replace('@STORE@', JSON.stringify(join(dir, 'store'))));
    const reloads = daemon.logs.filter((l) => l.msg === 'config reloaded').length;
    daemon.proc.kill('SIGHUP');
    await daemon.waitForLog(() => daemon.logs.filter((l) => l.msg === 'config reloaded').length > reloads);
    const before = reportings();
    ami.resume();
    // a call that started wholly after the reload: two more reportings
    await until(() => reportings() >= before + 2, 30_000, 'two more calls');
    const evs = events(rec);
    const lastStart = evs.map((e) => e.event_name).lastIndexOf('call.reporting', evs.length - 2);
    const lastCall = evs.slice(lastStart + 1);
    const initial = lastCall.filter((e) => e.event_name === 'call.initial');
    expect(initial.map((e) => `${e.context} ${e.endpoint}`)).toEqual(['LOCAL_USER PJSIP/agent1']);
    expect(lastCall.filter((e) => e.call_id !== null).every((e) => e.direction === 'in')).toBe(true);
    // the connection was kept: a trunk change needs no new socket
    expect(daemon.logs.filter((l) => /AMI connected|logged in/i.test(String(l.msg))).length).toBe(1);
  }, 90_000);
});

describe('calls.recording_url', () => {
  const varset = `Event: VarSet
Privilege: dialplan,all
Channel: PJSIP/caller-00000000
Uniqueid: 1795256062.0
Linkedid: 1795256062.0
Variable: MIXMONITOR_FILENAME
Value: /var/spool/asterisk/monitor/in-1795256062.0.wav

`;

  it('is the template filled in with the event and the recording file, and only on recorded calls', async () => {
    const a = capture('a-answered-caller-hangup');
    const linked = /Linkedid: (\S+)/.exec(a.bytes.toString('latin1'))![1];
    const uid = /Uniqueid: (\S+)/.exec(a.bytes.toString('latin1'))![1];
    const recorded = withFrame('a-answered-caller-hangup', 'DialEnd', varset.replaceAll('1795256062.0', uid).replace(`Linkedid: ${uid}`, `Linkedid: ${linked}`));
    const ami = await amiServer([recorded, capture('c-no-answer-dial-timeout')]);
    const rec = await receiver();
    start(`${pbxYaml(ami.port)}
webhooks:
  - name: crm
    url: ${rec.url}/h
    events: [call.hangup, call.reporting]
calls:
  recording_variable: MIXMONITOR_FILENAME
  recording_url: "https://rec.example.com/{{pbx.name}}/#call_id#/{{leg_id}}/{{recording_file}}"
storage: {path: @STORE@}
http: {listen: off}
`);
    await until(() => events(rec).filter((e) => e.event_name === 'call.reporting').length >= 2, 20_000, 'both calls');
    const evs = events(rec);
    const first = evs.filter((e) => e.call_id === linked);
    expect(first.length).toBeGreaterThan(0);
    for (const e of first) {
      expect(e.recording_url).toBe(`https://rec.example.com/pbx1/${encodeURIComponent(linked)}/${e.leg_id ? encodeURIComponent(e.leg_id) : ''}/in-${uid}.wav`);
    }
    const unrecorded = evs.filter((e) => e.call_id !== linked);
    expect(unrecorded.length).toBeGreaterThan(0);
    expect(unrecorded.every((e) => e.recording_url === null)).toBe(true);
  }, 60_000);
});

describe('circuit breakers are per webhook', () => {
  it('a webhook answering 500 opens only its own breaker; a healthy webhook on the same host and port gets every event', async () => {
    const CALLS = ['a-answered-caller-hangup', 'b-answered-agent-hangup', 'c-no-answer-dial-timeout', 'd-agent-busy-486', 'e-caller-cancel-while-ringing', 'f-hold-unhold', 'g-dtmf-info-midcall'];
    // seven calls: seven lanes fail at once, more than the breaker's threshold of five
    const ami = await amiServer(CALLS.map(capture));
    const rec = await receiver();
    rec.setHandler((q, res) => {
      if (q.url.startsWith('/fail')) res.writeHead(500).end('down');
      else res.writeHead(200).end('ok');
    });
    const { daemon } = start(`${pbxYaml(ami.port)}
webhooks:
  - name: failing
    url: ${rec.url}/fail
    events: ["*"]
    retry: {schedule: [0s, 1h]}
  - name: healthy
    url: ${rec.url}/ok
    events: ["*"]
storage: {path: @STORE@}
http: {listen: "127.0.0.1:0"}
`);
    const listening = await daemon.waitForLog((l) => typeof l.url === 'string' && String(l.msg).startsWith('http server listening'));
    const okCount = () => rec.requests.filter((q) => q.url === '/ok').length;
    await until(() => okCount() > 0, 20_000, 'deliveries');
    await daemon.waitForLog((l) => l.msg === 'circuit breaker open: probing instead of sending' && l.webhook === 'failing', 20_000);
    const metricsText = async () => (await fetch(`${listening.url}/metrics`)).text();
    await until(() => rec.requests.filter((q) => q.url === '/ok' && JSON.parse(q.body).event_name === 'call.reporting').length === CALLS.length, 20_000, 'every call at the healthy webhook');
    const m = await metricsText();
    expect(m).toMatch(/callhook_webhook_breaker_open\{webhook="failing"\} 1/);
    expect(m).toMatch(/callhook_webhook_breaker_open\{webhook="healthy"\} 0/);
    expect(m).toMatch(/callhook_outbox_pending\S* \d+/);
    // the healthy webhook's outbox is empty
    const healthyOk = rec.requests.filter((q) => q.url === '/ok').length;
    const failingSent = rec.requests.filter((q) => q.url === '/fail').length;
    expect(healthyOk).toBeGreaterThan(failingSent);
    expect(daemon.logs.some((l) => l.msg === 'circuit breaker open: probing instead of sending' && l.webhook === 'healthy')).toBe(false);
  }, 60_000);
});

describe('deliveries and replay need only the store', () => {
  it('run without the PBX and webhook secrets in the environment; replay names the configured webhooks', async () => {
    const dir = tempDir();
    const file = writeConfig(`${pbxYaml(5038)}
webhooks:
  - name: crm
    url: https://crm.example.com/h
    events: ["*"]
    signing_secret: \${CRM_SIGNING_SECRET}
    headers: {Authorization: "Bearer \${CRM_TOKEN}"}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
`, dir);
    // make the store: a daemon that starts and stops (its PBX is not there; nothing is sent)
    const d = spawnDaemon(file, [], { AMI_SECRET: 'x', CRM_SIGNING_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', CRM_TOKEN: 't' });
    cleanup.push(() => d.stop('SIGKILL'));
    await d.waitForLog((l) => l.msg === 'callhook starting');
    await d.stop();
    const env = { ...process.env };
    delete env.AMI_SECRET;
    delete env.CRM_SIGNING_SECRET;
    delete env.CRM_TOKEN;
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--config', file], { encoding: 'utf8', env });
    const list = run('deliveries');
    expect(list.stderr).toBe('');
    expect(list.status).toBe(0);
    const ok = run('replay', '--webhook', 'crm', '--dead');
    expect(ok.stdout).toBe('re-queued 0 deliveries for crm\n');
    expect(ok.status).toBe(0);
    const nope = run('replay', '--webhook', 'nope', '--dead');
    expect(nope.status).toBe(64);
    expect(nope.stderr).toBe('callhook: no webhook named "nope" in the configuration (configured: "crm")\n');
    expect(run('deliveries', '--webhook', 'nope').status).toBe(64);
  }, 60_000);
});

describe('start-up cost', () => {
  /** the packages a command loads, recorded by a module-resolution hook */
  function packagesLoaded(args: string[]): string[] {
    const dir = tempDir();
    const log = join(dir, 'loaded.txt');
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}`);
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module'; register(${JSON.stringify(`file://${hooks}`)});`);
    writeFileSync(log, '');
    const r = spawnSync(process.execPath, ['--import', register, CLI, ...args], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const pkgs = new Set<string>();
    for (const url of readFileSync(log, 'utf8').split('\n')) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
      if (m) pkgs.add(m[1]);
    }
    return [...pkgs].sort();
  }

  it('`callhook --version` loads no library but the argument parser; `check` no database, HTTP or logging library', () => {
    expect(packagesLoaded(['--version'])).toEqual(['commander']);
    const dir = tempDir();
    const file = writeConfig(`${pbxYaml(5038).replace('${AMI_SECRET}', 'x')}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
`, dir);
    const loaded = packagesLoaded(['check', '--config', file]);
    for (const heavy of ['better-sqlite3', 'undici', 'pino', 'prom-client', 'p-queue']) expect(loaded).not.toContain(heavy);
  }, 60_000);
});



