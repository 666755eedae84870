/**
 * The systemd unit passes `systemd-analyze verify` and keeps its exposure score at or
 * below 2.0, through the same script CI runs (.ci/systemd-check.sh). Skipped where
 * systemd-analyze is not installed (CI installs it; see the script).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = join(ROOT, '.ci/systemd-check.sh');
const UNIT = join(ROOT, 'systemd/callhook.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe.skipIf(!hasAnalyze)('systemd unit', () => {
  it('verifies and scores an exposure of at most 2.0', () => {
    const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toMatch(/exposure \d\.\d <= 2\.0: ok/);
    expect(r.status).toBe(0);
  });

  it('keeps the settings the issue asks for', () => {
    const unit = readFileSync(UNIT, 'utf8');
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'ExecReload=/usr/bin/node /opt/callhook/dist/src/cli.js check --config /etc/callhook/callhook.yaml',
      'ExecReload=/bin/kill -HUP $MAINPID',
      'Restart=on-failure',
      'RestartPreventExitStatus=69 73 78',
      'StateDirectory=callhook',
      'ProtectSystem=strict',
      'PrivateTmp=yes',
      'NoNewPrivileges=yes',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      'SystemCallFilter=@system-service',
      'CapabilityBoundingSet=',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    // Node's JIT needs writable+executable memory
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=(yes|true|1)/m);
  });

  it('fails a weakened unit and a unit with errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'callhook-systemd-'));
    try {
      const weak = join(dir, 'weak.service');
      writeFileSync(weak, readFileSync(UNIT, 'utf8').split('\n').filter((l) => !/^(Protect|Private|Restrict|SystemCall|Capability)/.test(l)).join('\n'));
      const w = spawnSync('bash', [SCRIPT, weak], { encoding: 'utf8' });
      expect(w.status).not.toBe(0);
      expect(w.stderr).toMatch(/exposure \d+\.\d is above 2\.0/);

      const broken = join(dir, 'broken.service');
      writeFileSync(broken, readFileSync(UNIT, 'utf8').replace('Restart=on-failure', 'Restart=sometimes'));
      const b = spawnSync('bash', [SCRIPT, broken], { encoding: 'utf8' });
      expect(b.status).not.toBe(0);
      expect(b.stdout + b.stderr).toMatch(/restart specifier/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
