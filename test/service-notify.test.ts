/**
 * systemd-native (#13 point 3), without booting systemd: the daemon started with a
 * NOTIFY_SOCKET (a real unix datagram socket, read as the manager reads it) sends READY=1
 * once it runs, STATUS= lines that follow its PBX connection, RELOADING=1 … READY=1 around
 * a reload and STOPPING=1 at SIGTERM, through the real `systemd-notify`. And the unit's own
 * ExecReload= lines, run as systemd runs them (in order, stopping at the first failure):
 * a bad file fails the reload and never signals the daemon; a good one reloads it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startAmiReplayServer } from '../src/demo/ami-replay-server.js';
import { readCapture } from '../src/pbx/capture.js';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { CLI, spawnDaemon } from './helpers/daemon.js';
import { startNotifySocket } from './helpers/notify-socket.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!().catch(() => undefined);
});

/** the unit's ExecReload= command lines, with the installed paths pointed at this tree */
function execReload(config: string, mainPid: number): string[][] {
  const unit = readFileSync('systemd/callhook.service', 'utf8');
  return [...unit.matchAll(/^ExecReload=(.*)$/gm)].map((m) =>
    m[1]
      .trim()
      .split(/\s+/)
      .map((w) =>
        w === '/usr/bin/node' ? process.execPath
        : w === '/opt/callhook/dist/src/cli.js' ? join(process.cwd(), CLI)
        : w === '/etc/callhook/callhook.yaml' ? config
        : w === '$MAINPID' ? String(mainPid)
        : w,
      ),
  );
}

/** what systemd does on `systemctl reload`: each line in turn; the first failure fails the job */
function systemctlReload(lines: string[][]): { ok: boolean; ran: number; output: string } {
  let output = '';
  for (let i = 0; i < lines.length; i++) {
    const [cmd, ...args] = lines[i];
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, AMI_SECRET: 's3cret' } });
    output += r.stdout + r.stderr;
    if (r.status !== 0) return { ok: false, ran: i + 1, output };
  }
  return { ok: true, ran: lines.length, output };
}

it('READY=1 once running, STATUS= per PBX state, RELOADING/READY around reloads, STOPPING at SIGTERM; ExecReload refuses a bad file', async () => {
  const notify = await startNotifySocket();
  cleanup.push(() => notify.close());
  const ami = await startAmiReplayServer({ captures: [{ bytes: readCapture('test/fixtures/asterisk/live/inbound.ami').bytes }], secret: 's3cret', pace: 'instant' });
  let amiOpen = true;
  cleanup.push(() => (amiOpen ? ami.close() : Promise.resolve()));
  const dir = tempDir();
  const good = `${asteriskPbxYaml(ami.port)}
webhooks: []
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
`;
  const file = writeConfig(good, dir);
  const daemon = spawnDaemon(file, [], { AMI_SECRET: 's3cret', NOTIFY_SOCKET: notify.path });
  cleanup.push(() => daemon.stop('SIGKILL'));

  // ready once running: the first message, after the store was opened
  const ready = await notify.waitFor('READY=1');
  expect(notify.messages[0]).toBe(ready);
  expect(ready.find((f) => f.startsWith('STATUS='))).toMatch(/^STATUS=PBX: pbx1 (connected|not connected)$/);
  await daemon.waitForLog((l) => l.msg === 'callhook starting');
  const up = notify.messages.indexOf(await notify.waitFor('STATUS=PBX: pbx1 connected'));

  // the PBX goes away: systemctl status says so
  await ami.close();
  amiOpen = false;
  await notify.waitFor('STATUS=PBX: pbx1 not connected', up + 1);

  // systemctl reload with a broken file: the check fails the job, the daemon never hears of it
  writeFileSync(file, good.replace('webhooks: []', 'webhooks: [}'));
  const before = notify.messages.length;
  const bad = systemctlReload(execReload(file, daemon.proc.pid!));
  expect(bad.ok).toBe(false);
  expect(bad.ran).toBe(1);
  expect(bad.output).toContain(`${file}:`);
  expect(daemon.logs.some((l) => String(l.msg).startsWith('SIGHUP'))).toBe(false);

  // a SIGHUP that comes some other way with the bad file: RELOADING=1, then READY=1 saying it failed
  daemon.proc.kill('SIGHUP');
  const failed = await notify.waitFor(/^STATUS=config reload failed/, before);
  expect(failed).toContain('READY=1');
  expect(notify.messages.slice(before).findIndex((m) => m.includes('RELOADING=1'))).toBeLessThan(notify.messages.slice(before).indexOf(failed));

  // a good file: the check passes, the daemon reloads and is ready again with its PBX state
  writeFileSync(file, `${good}log: {level: debug}\n`);
  const mark = notify.messages.length;
  const r = systemctlReload(execReload(file, daemon.proc.pid!));
  expect(r, r.output).toMatchObject({ ok: true, ran: 2 });
  await daemon.waitForLog((l) => l.msg === 'config reloaded');
  const again = await notify.waitFor('READY=1', mark);
  expect(again).toContain('STATUS=PBX: pbx1 not connected');
  // (a STATUS= from the reconnecting PBX client may come in between: only the order matters)
  const reloading = notify.messages.slice(mark).findIndex((m) => m.includes('RELOADING=1'));
  expect(reloading).toBeGreaterThanOrEqual(0);
  expect(reloading).toBeLessThan(notify.messages.slice(mark).indexOf(again));

  // systemctl stop
  const stopMark = notify.messages.length;
  daemon.proc.kill('SIGTERM');
  expect(await daemon.exited).toBe(0);
  expect(notify.messages.slice(stopMark).some((m) => m.includes('STOPPING=1'))).toBe(true);
}, 120_000);

it('without NOTIFY_SOCKET nothing is sent and nothing is logged about it', async () => {
  const dir = tempDir();
  const file = writeConfig(`${asteriskPbxYaml(1).replace('${AMI_SECRET}', 'x')}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
`, dir);
  const daemon = spawnDaemon(file, [], { NOTIFY_SOCKET: '' });
  cleanup.push(() => daemon.stop('SIGKILL'));
  await daemon.waitForLog((l) => l.msg === 'callhook starting');
  daemon.proc.kill('SIGTERM');
  expect(await daemon.exited).toBe(0);
  expect(daemon.logs.some((l) => /systemd-notify|NOTIFY_SOCKET/.test(String(l.msg)))).toBe(false);
});
