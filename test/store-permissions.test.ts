/**
 * The delivery store holds caller data: run by hand under a permissive umask, the daemon
 * still creates its directory 0700 and its files 0600 (hardening, #12 point 9).
 */
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, type DaemonProcess } from './helpers/daemon.js';

let daemon: DaemonProcess | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
});

it('the store is 0700 and its files 0600 under umask 022', async () => {
  const dir = tempDir();
  const store = join(dir, 'state', 'store');
  const file = writeConfig(`${asteriskPbxYaml(1).replace('${AMI_SECRET}', 'x')}
webhooks:
  - {name: crm, url: "http://127.0.0.1:9/hooks", events: ["*"]}
storage: {path: ${JSON.stringify(store)}}
http: {listen: off}
`, dir);
  const before = process.umask(0o022);
  try {
    daemon = spawnDaemon(file, [], {});
  } finally {
    process.umask(before);
  }
  await daemon.waitForLog((l) => l.msg === 'callhook starting');
  expect(statSync(store).mode & 0o777).toBe(0o700);
  const files = readdirSync(store);
  expect(files).toContain('callhook.db');
  for (const f of files) expect(statSync(join(store, f)).mode & 0o777, f).toBe(0o600);
});
