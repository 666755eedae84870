/**
 * `callhook run --pretty` for a person tailing it: one line per log record (an event, a
 * delivery), and no colour codes when the output is a pipe.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { readCapture } from '../src/pbx/capture.js';
import { startAmiReplayServer } from '../src/demo/ami-replay-server.js';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { CLI, until } from './helpers/daemon.js';
import { startReceiver } from './helpers/receiver.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** a real inbound call replayed over AMI, a receiver, and a config file for both */
async function inboundCall() {
  const ami = await startAmiReplayServer({ captures: [{ bytes: readCapture('test/fixtures/asterisk/live/inbound.ami').bytes }], secret: 's3cret', pace: 'instant' });
  cleanup.push(() => ami.close());
  const rec = await startReceiver();
  cleanup.push(() => rec.close());
  const dir = tempDir();
  const file = writeConfig(`${asteriskPbxYaml(ami.port)}
webhooks:
  - {name: crm, url: "${rec.url}/h", events: ["*"]}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
`, dir);
  return { rec, file };
}

it('one line per delivery, no ANSI codes into a pipe', async () => {
  const { rec, file } = await inboundCall();
  const child = spawn(process.execPath, [CLI, 'run', '--pretty', '--config', file], { env: { ...process.env, AMI_SECRET: 's3cret' }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => (out.match(/webhook delivered/g) ?? []).length >= rec.requests.length && rec.requests.some((q) => JSON.parse(q.body).event_name === 'call.reporting'), 30_000, 'the deliveries logged');
  const lines = out.trimEnd().split('\n');
  expect(lines.filter((l) => l.includes('webhook delivered'))).toHaveLength(rec.requests.length);
  // every line is a record of its own: a time, a level, a message
  for (const l of lines) expect(l).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /);
  expect(out).not.toMatch(/\x1b\[/);
});

it('callhook logs pretty-prints the JSON lines of a running daemon from any directory, one line each', async () => {
  const { rec, file } = await inboundCall();
  // the daemon's JSON, as journalctl -o cat gives it, piped into `callhook logs` run from /
  const daemon = spawn(process.execPath, [CLI, 'run', '--config', file], { env: { ...process.env, AMI_SECRET: 's3cret' }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => daemon.kill('SIGKILL'));
  const logs = spawn(process.execPath, [join(process.cwd(), CLI), 'logs'], { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
  cleanup.push(() => logs.kill('SIGKILL'));
  let json = '';
  daemon.stdout.on('data', (d: Buffer) => {
    json += d.toString();
    logs.stdin.write(d);
  });
  let out = '';
  logs.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => rec.requests.some((q) => JSON.parse(q.body).event_name === 'call.reporting') && (out.match(/webhook delivered/g) ?? []).length >= rec.requests.length, 30_000, 'the deliveries pretty-printed');
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  logs.stdin.end();
  expect(await new Promise((r) => logs.once('exit', r))).toBe(0);
  const records = json.trimEnd().split('\n');
  const lines = out.trimEnd().split('\n');
  expect(lines).toHaveLength(records.length);
  lines.forEach((l, i) => {
    const rec = JSON.parse(records[i]) as { msg: string };
    expect(l).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /);
    expect(l).toContain(rec.msg);
  });
  expect(out).not.toMatch(/\x1b\[/);
});
