/**
 * Under systemd (JOURNAL_STREAM names stdout's device:inode) every log line carries its syslog priority as a `<N>`
 * prefix, so `journalctl -p err` can filter; the rest of the line is the same JSON record.
 */
import { afterEach, expect, it } from 'vitest';
import { pbxlessConfig } from './helpers/config.js';
import { spawn } from 'node:child_process';
import { CLI, spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';

let stop: (() => void) | null = null;
afterEach(() => stop?.());

it('info lines are <6>, warnings <4>, each followed by the JSON record', async () => {
  const file = pbxlessConfig();
  // as systemd does: JOURNAL_STREAM names the device:inode of the stream stdout is
  const child = spawn('sh', ['-c', 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) exec "$0" "$@"', process.execPath, CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  stop = () => child.kill('SIGKILL');
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // nothing listens on port 1: the AMI connection fails, which is a warning
  await until(() => /^<4>/m.test(out) && /^<6>/m.test(out), 20_000, 'an info and a warning line');
  const lines = out.trimEnd().split('\n');
  for (const l of lines) {
    const m = /^<(\d)>(\{.*\})$/.exec(l);
    expect(m, l).not.toBeNull();
    const rec = JSON.parse(m![2]) as { level: number };
    expect(Number(m![1])).toBe({ 60: 2, 50: 3, 40: 4, 30: 6, 20: 7, 10: 7 }[rec.level]);
  }
});

it('with a JOURNAL_STREAM that is not its stdout (inherited), plain JSON lines', async () => {
  const file = pbxlessConfig();
  const d: DaemonProcess = spawnDaemon(file, [], { JOURNAL_STREAM: '8:12345' });
  stop = () => void d.stop('SIGKILL');
  await d.waitForLog((l) => l.msg === 'callhook starting');
});
