/**
 * scripts/install.sh from a source tree, as an operator runs it (here with --prefix, so it
 * installs under a directory instead of /): one npm ci, nothing written into the source
 * tree, a minimal config that `callhook check` accepts once AMI_SECRET is set, a working
 * command line, and exit 0 with its next steps on a host without systemd.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from './helpers/config.js';

it('installs from a source tree with one npm ci, leaves the tree as it was, and ends 0 with next steps', () => {
  const src = tempDir('callhook-src-');
  const copy = spawnSync('bash', ['-c', `tar --exclude=./node_modules --exclude=./dist --exclude=./.git -cf - . | tar -C ${src} -xf -`], { cwd: process.cwd() });
  expect(copy.status).toBe(0);
  const prefix = tempDir('callhook-prefix-');
  const r = spawnSync('bash', [join(src, 'scripts/install.sh'), '--prefix', prefix], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, npm_config_loglevel: 'notice' } });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  // one npm ci: one "added N packages" (the production tree is pruned, not installed again)
  expect((r.stdout.match(/^added \d+ packages/gm) ?? []).length).toBe(1);
  expect(r.stdout).toMatch(/^removed \d+ packages/m);
  // the source tree got no node_modules/ or dist/ (which, run as root, would be root's)
  expect(existsSync(join(src, 'node_modules'))).toBe(false);
  expect(existsSync(join(src, 'dist'))).toBe(false);
  // the installed code: production modules only, no tests or benchmarks
  const opt = join(prefix, 'opt/callhook');
  expect(existsSync(join(opt, 'node_modules/vitest'))).toBe(false);
  expect(existsSync(join(opt, 'dist/test'))).toBe(false);
  const cli = join(opt, 'dist/src/cli.js');
  expect(spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).status).toBe(0);
  // the minimal live config: no example receivers; valid once the secret is set
  const yaml = join(prefix, 'etc/callhook/callhook.yaml');
  expect(readFileSync(yaml, 'utf8')).not.toMatch(/^\s*url: https:\/\/crm\.example\.com/m);
  const unset = spawnSync(process.execPath, [cli, 'check', '--config', yaml], { encoding: 'utf8', env: { ...process.env, AMI_SECRET: '' } });
  expect(unset.status).not.toBe(0);
  expect(unset.stdout + unset.stderr).toMatch(/AMI_SECRET is not set/);
  const ok = spawnSync(process.execPath, [cli, 'check', '--config', yaml], { encoding: 'utf8', env: { ...process.env, AMI_SECRET: 'a-secret' } });
  expect(ok.status, ok.stdout + ok.stderr).toBe(0);
  expect(r.stdout).toMatch(/callhook is installed\. Next:/);
  if (!existsSync('/run/systemd/system')) expect(r.stdout).toMatch(/no systemd on this host/);
  // the user and directories come from the sysusers.d / tmpfiles.d files, applied under the prefix
  if (spawnSync('systemd-sysusers', ['--version']).status === 0) {
    const user = readFileSync(join(prefix, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('callhook:'));
    expect(user).toMatch(/^callhook:x:\d+:\d+:[^:]*:\/var\/lib\/callhook:\/usr\/sbin\/nologin$/);
    const gid = Number(user!.split(':')[3]);
    const etc = statSync(join(prefix, 'etc/callhook'));
    expect([etc.mode & 0o777, etc.uid, etc.gid]).toEqual([0o750, 0, gid]);
    expect(statSync(yaml).gid).toBe(gid);
    expect(statSync(yaml).mode & 0o777).toBe(0o640);
    expect(statSync(join(prefix, 'var/lib/callhook')).uid).toBe(Number(user!.split(':')[2]));
  }
}, 660_000);
