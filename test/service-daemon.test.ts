/**
 * The daemon as an operator runs it: `node dist/src/cli.js run --config FILE` as a real
 * child process, an AMI replay server playing real Asterisk captures, real HTTP receivers
 * on 127.0.0.1. Covers /healthz, /readyz, /metrics and /calls against what the receiver
 * counted, and reload on SIGHUP (valid change, invalid file).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCapture } from '../src/pbx/capture.js';
import { startAmiReplayServer, type AmiReplayServer, type ReplayCapture } from '../src/demo/ami-replay-server.js';
import { tempDir } from './helpers/config.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const FIXTURES = join(ROOT, 'test/fixtures/asterisk');
const SECRET = 's3cret';

/**
 * The daemon runs from dist/ as systemd runs it. `npm test` builds first; a bare
 * `npx vitest run` builds only when dist/ is missing (rebuilding here could rewrite files
 * under another test's running child process).
 */
function ensureBuilt(): void {
  if (existsSync(CLI)) return;
  // others' files may have type errors mid-edit: tsc still emits, so only the output matters
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'ignore' });
  if (!existsSync(CLI)) throw new Error('dist/src/cli.js is missing and the build did not produce it');
}

function capture(name: string, cutBefore?: string): ReplayCapture {
  const c = readCapture(join(FIXTURES, `${name}.ami`));
  if (!cutBefore) return { bytes: c.bytes };
  // the capture up to (not including) the first message of this event: a call left in progress
  const at = c.bytes.indexOf(`\r\nEvent: ${cutBefore}\r\n`);
  if (at < 0) throw new Error(`${name} has no ${cutBefore}`);
  return { bytes: c.bytes.subarray(0, at + 2) };
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

interface RunningDaemon {
  child: ChildProcess;
  logs: LogLine[];
  stderr: string[];
  url: string;
  exited: Promise<number | null>;
}

const running: RunningDaemon[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
  }
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startDaemon(configPath: string): Promise<RunningDaemon> {
  const child = spawn(process.execPath, [CLI, 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const d: RunningDaemon = {
    child,
    logs: [],
    stderr: [],
    url: '',
    exited: new Promise((r) => child.once('exit', (code) => r(code))),
  };
  running.push(d);
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        d.logs.push(JSON.parse(line) as LogLine);
      } catch {
        d.stderr.push(`stdout (not JSON): ${line}`);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => d.stderr.push(s));
  const listening = await waitFor(
    'the http server log line',
    () => d.logs.find((l) => typeof l.url === 'string' && l.msg.startsWith('http server listening')) ?? (child.exitCode !== null ? ({ url: 'exited' } as unknown as LogLine) : undefined),
  );
  if (listening.url === 'exited') throw new Error(`daemon exited: ${d.stderr.join('')}`);
  d.url = listening.url as string;
  return d;
}

async function get(url: string): Promise<{ status: number; text: string; json: () => any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

/** `name{labels} value` lines of a Prometheus text exposition, summed over matching series */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) ls[p[1]] = p[2];
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) {
      sum += Number(m[3]);
      seen = true;
    }
  }
  if (!seen) throw new Error(`no series ${name}${JSON.stringify(labels)} in /metrics`);
  return sum;
}

function pbxYaml(name: string, port: number): string {
  return [
    `  - name: ${name}`,
    '    type: asterisk',
    '    host: 127.0.0.1',
    `    port: ${port}`,
    '    username: callhook',
    `    secret: ${SECRET}`,
    '    trunks: ["PJSIP/caller*", "PJSIP/external*"]',
    '    ping_interval: 60s',
  ].join('\n');
}

function webhookYaml(name: string, url: string): string {
  return [`  - name: ${name}`, `    url: ${url}/hooks/${name}`, '    events: ["*"]', '    retry: {schedule: [0s, 300ms, 300ms, 300ms, 300ms, 300ms, 300ms, 300ms, 300ms, 300ms]}'].join('\n');
}

function configYaml(o: { dir: string; pbx: string[]; webhooks: string[]; level?: string }): string {
  return [
    'pbx:',
    ...o.pbx,
    'webhooks:',
    ...o.webhooks,
    `storage: {path: ${JSON.stringify(join(o.dir, 'store'))}}`,
    'http: {listen: "127.0.0.1:0"}',
    `log: {level: ${o.level ?? 'info'}}`,
    '',
  ].join('\n');
}

async function replay(captures: ReplayCapture[]): Promise<AmiReplayServer> {
  const s = await startAmiReplayServer({ captures, username: 'callhook', secret: SECRET, pace: 'instant' });
  cleanups.push(() => s.close());
  return s;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  cleanups.push(() => r.close());
  return r;
}

const body = (r: { body: string }) => JSON.parse(r.body) as { id: string; event_name: string; call_id: string; pbx: { name: string } };

beforeAll(() => ensureBuilt(), 120_000);

describe('health, readiness, metrics and live calls over HTTP', () => {
  it('reports what the receiver counted, and readiness follows the PBX connection', async () => {
    const dir = tempDir('callhook-service-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // two complete calls, then one left connected (cut before its hangup)
    const pbx = await replay([capture('a-answered-caller-hangup'), capture('h-queue-answered'), capture('b-answered-agent-hangup', 'HangupRequest')]);
    const rx = await receiver();
    // the first three requests fail: they are retried, and counted as failed attempts
    let answered = 0;
    rx.setHandler((_req, res) => {
      answered++;
      res.writeHead(answered <= 3 ? 503 : 200).end();
    });
    const cfg = join(dir, 'callhook.yaml');
    writeFileSync(cfg, configYaml({ dir, pbx: [pbxYaml('pbx1', pbx.port)], webhooks: [webhookYaml('crm', rx.url)] }));
    const d = await startDaemon(cfg);

    const health = await get(`${d.url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok' });

    await pbx.done;
    // settled: the outbox is empty and the receiver has seen every delivery
    const text = await waitFor('an empty outbox', async () => {
      const m = await get(`${d.url}/metrics`);
      return metric(m.text, 'callhook_outbox_pending') === 0 && metric(m.text, 'callhook_active_calls') === 1 && rx.requests.length > 3 ? m.text : undefined;
    });

    const ok = rx.requests.length - 3;
    expect(metric(text, 'callhook_webhook_attempts_total', { webhook: 'crm', outcome: 'delivered' })).toBe(ok);
    expect(metric(text, 'callhook_webhook_attempts_total', { webhook: 'crm', outcome: 'failed' })).toBe(3);
    expect(metric(text, 'callhook_webhook_duration_seconds_count', { webhook: 'crm' })).toBe(rx.requests.length);
    // every event went to the one "*" webhook: events by name = deliveries by name
    const byName = new Map<string, Set<string>>();
    for (const r of rx.requests) {
      const b = body(r);
      if (!byName.has(b.event_name)) byName.set(b.event_name, new Set());
      byName.get(b.event_name)!.add(b.id);
    }
    let distinct = 0;
    for (const [name, ids] of byName) {
      expect(metric(text, 'callhook_events_total', { pbx: 'pbx1', event: name }), name).toBe(ids.size);
      distinct += ids.size;
    }
    expect(metric(text, 'callhook_events_total')).toBe(distinct);
    // Node's own metrics under their standard names, as stock dashboards look for them
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      expect(text, name).toMatch(new RegExp(`^${name} `, 'm'));
    }
    expect(text).not.toMatch(/^callhook_process_/m);
    // Prometheus's own linter has nothing to say (where it is installed: CI installs it)
    if (spawnSync('promtool', ['--version']).status === 0) {
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(lint.stdout + lint.stderr, 'promtool check metrics').toBe('');
      expect(lint.status).toBe(0);
    }
    expect(distinct).toBe(ok);
    expect(metric(text, 'callhook_pbx_connected', { pbx: 'pbx1' })).toBe(1);
    expect(metric(text, 'callhook_pbx_parse_errors_total', { pbx: 'pbx1' })).toBe(0);
    expect(metric(text, 'callhook_pbx_events_total', { pbx: 'pbx1' })).toBeGreaterThan(200);
    expect(metric(text, 'callhook_webhook_dead_letters_total', { webhook: 'crm' })).toBe(0);
    expect(metric(text, 'callhook_outbox_oldest_pending_age_seconds')).toBe(0);
    expect(metric(text, 'callhook_active_legs')).toBeGreaterThanOrEqual(2);

    // the call still in progress, with its legs
    const calls = (await get(`${d.url}/calls`)).json().calls as Array<{ call_id: string; pbx: string; legs: Array<{ state: string }> }>;
    expect(calls).toHaveLength(1);
    expect(calls[0].pbx).toBe('pbx1');
    expect(calls[0].legs.map((l) => l.state)).toContain('CONNECTED');
    const one = await get(`${d.url}/calls/${encodeURIComponent(calls[0].call_id)}`);
    expect(one.status).toBe(200);
    expect(one.json().call_id).toBe(calls[0].call_id);
    expect((await get(`${d.url}/calls/no-such-call`)).status).toBe(404);
    expect((await fetch(`${d.url}/calls`, { method: 'POST' })).status).toBe(405);

    const ready = await get(`${d.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true, pbx: [{ name: 'pbx1', connected: true }], store: { writable: true, pending: 0 } });

    // the PBX goes away: not ready, and says why
    await pbx.close();
    const notReady = await waitFor('/readyz 503', async () => {
      const r = await get(`${d.url}/readyz`);
      return r.status === 503 ? r : undefined;
    });
    expect(notReady.json()).toMatchObject({ ready: false, pbx: [{ name: 'pbx1', connected: false }] });
    // the log says so too (the line may reach us just after /readyz turned 503)
    await waitFor('a warning naming pbx1', async () => (d.logs.some((l) => l.level >= 40 && /pbx1/.test(l.msg)) ? true : undefined));

    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    const final = d.logs.find((l) => l.msg === 'final summary');
    expect(final).toMatchObject({ deliveries_ok: ok, deliveries_failed: 3, outbox_pending: 0, calls_ended: 2 });
  }, 120_000);
});

describe('reload on SIGHUP', () => {
  it('applies a valid change without losing queued deliveries, and keeps running on an invalid file', async () => {
    const dir = tempDir('callhook-service-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const pbx1 = await replay([capture('a-answered-caller-hangup')]);
    const crm = await receiver();
    crm.setHandler((_req, res) => res.writeHead(503).end()); // down for now: deliveries queue up
    const cfg = join(dir, 'callhook.yaml');
    const v1 = { dir, pbx: [pbxYaml('pbx1', pbx1.port)], webhooks: [webhookYaml('crm', crm.url)] };
    writeFileSync(cfg, configYaml(v1));
    const d = await startDaemon(cfg);
    await pbx1.done;
    await waitFor('failed attempts at crm', () => crm.requests.length >= 3);
    const queued = new Set(crm.requests.map((r) => body(r).id));

    // an invalid file: the errors are logged as FILE:LINE:COL, the old config keeps running
    writeFileSync(cfg, configYaml(v1).replace('log: {level: info}', 'log: {level: loud}'));
    d.child.kill('SIGHUP');
    const failed = await waitFor('the reload failure log line', () => d.logs.find((l) => l.msg.startsWith('config reload failed')));
    expect(failed.level).toBe(50);
    const line = 1 + configYaml(v1).split('\n').findIndex((l) => l.startsWith('log:'));
    expect(failed.msg).toContain(`${cfg}:${line}:`);
    expect(failed.msg).toMatch(new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+: `));
    const m1 = (await get(`${d.url}/metrics`)).text;
    expect(metric(m1, 'callhook_config_reloads_total', { result: 'invalid' })).toBe(1);
    expect(metric(m1, 'callhook_outbox_pending', { webhook: 'crm' })).toBeGreaterThan(0);

    // a valid change: a second PBX, a new webhook, debug logs; crm comes back
    const pbx2 = await replay([capture('c-no-answer-dial-timeout')]);
    pbx2.pause();
    const wallboard = await receiver();
    crm.setHandler((_req, res) => res.writeHead(200).end());
    writeFileSync(
      cfg,
      configYaml({ dir, pbx: [...v1.pbx, pbxYaml('pbx2', pbx2.port)], webhooks: [...v1.webhooks, webhookYaml('wallboard', wallboard.url)], level: 'debug' }),
    );
    d.child.kill('SIGHUP');
    await waitFor('the reload log line', () => d.logs.find((l) => l.msg === 'config reloaded'));
    pbx2.resume();
    await pbx2.done;

    // every delivery queued before the reload reaches crm
    const deliveredIds = () => new Set(crm.requests.filter((r) => body(r).pbx.name === 'pbx1').map((r) => body(r).id));
    await waitFor('queued deliveries delivered', async () => {
      const m = await get(`${d.url}/metrics`);
      return metric(m.text, 'callhook_outbox_pending') === 0 && wallboard.requests.length > 0;
    });
    for (const id of queued) expect(deliveredIds().has(id)).toBe(true);
    const lastStatusOk = await get(`${d.url}/metrics`);
    expect(metric(lastStatusOk.text, 'callhook_webhook_attempts_total', { webhook: 'crm', outcome: 'delivered' })).toBe(
      new Set(crm.requests.map((r) => body(r).id)).size,
    );

    // the new webhook receives the events made after the reload (pbx2's call), and only those
    const wb = wallboard.requests.map(body);
    expect(wb.every((b) => b.pbx.name === 'pbx2')).toBe(true);
    const pbx2AtCrm = new Set(crm.requests.map(body).filter((b) => b.pbx.name === 'pbx2').map((b) => b.id));
    expect(new Set(wb.map((b) => b.id))).toEqual(pbx2AtCrm);
    expect(wb.map((b) => b.event_name)).toContain('call.missed');

    // log.level reloaded: call state changes now logged at debug
    expect(d.logs.some((l) => l.level === 20 && l.msg === 'call event')).toBe(true);
    // pbx1 was not reconnected by the reload
    expect(d.logs.filter((l) => l.level === 30 && /connected|logged in/i.test(l.msg) && l.pbx === 'pbx1').length).toBeLessThanOrEqual(1);
    const m2 = (await get(`${d.url}/metrics`)).text;
    expect(metric(m2, 'callhook_config_reloads_total', { result: 'ok' })).toBe(1);
    expect(metric(m2, 'callhook_pbx_connected', { pbx: 'pbx2' })).toBe(1);

    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    expect(d.stderr.join('')).toBe('');
  }, 120_000);
});
