/**
 * Every way `callhook run` refuses to start exits with a code the systemd unit does not
 * restart on (a restart cannot fix them; a loop every 2 s only floods the journal), and
 * `check` refuses the same files first (#12 point 3). Real processes, real unit file.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pbxlessConfig, tempDir } from './helpers/config.js';
import { CLI } from './helpers/daemon.js';

const prevented = /^RestartPreventExitStatus=(.*)$/m.exec(readFileSync('systemd/callhook.service', 'utf8'))![1].split(/\s+/).map(Number);
let busy: net.Server;
let busyPort = 0;
beforeAll(async () => {
  busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyPort = (busy.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => busy.close(() => r())));

const config = pbxlessConfig;

const run = (file: string) => spawnSync(process.execPath, [CLI, 'run', '--config', file], { encoding: 'utf8', timeout: 60_000 });
const check = (file: string) => spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8' });

it.each([
  ['an invalid value', () => config('http: {listen: "0.0.0.0:99999"}'), 78, true],
  ['http.listen reachable from other hosts without a token', () => config('http: {listen: "0.0.0.0:9466"}'), 78, true],
  ['a store that is a file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'not-a-dir'), 'x');
    return config('http: {listen: off}', join(dir, 'not-a-dir'));
  }, 73, false],
  ['http.listen already in use', () => config(`http: {listen: "127.0.0.1:${busyPort}"}`), 69, false],
] as const)('%s: run exits with a code the unit does not restart on', (_what, make, code, checkRefuses) => {
  const file = make();
  const r = run(file);
  expect(r.status, r.stderr).toBe(code);
  expect(prevented).toContain(code);
  expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2);
  if (checkRefuses) expect(check(file).status).toBe(78);
});
