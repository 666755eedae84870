/**
 * A PBX that restarts: the real daemon retries about once a second while it is down (never
 * storming it: one TCP connect per retry), and is logged in again on its first retry after
 * the PBX is back (#12 point 6). Asserted by the daemon's own log lines, not by a clock.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startAmiReplayServer } from '../src/demo/ami-replay-server.js';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';

const SECRET = 'restart-test-secret';
const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

it('retries every second or less while the PBX is down, and is back on the first retry after it returns', async () => {
  const bytes = readFileSync('test/fixtures/asterisk/live/inbound.ami');
  let server = await startAmiReplayServer({ captures: [{ bytes }], secret: SECRET, pace: 'instant' });
  const port = server.port;
  cleanup.push(() => server.close());
  const dir = tempDir();
  const file = writeConfig(`${asteriskPbxYaml(port)}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
`, dir);
  const daemon: DaemonProcess = spawnDaemon(file, [], { AMI_SECRET: SECRET });
  cleanup.push(() => daemon.stop('SIGKILL'));
  const loggedIn = () => daemon.logs.filter((l) => /AMI connected and logged in/.test(String(l.msg))).length;
  const failures = () => daemon.logs.filter((l) => l.level === 40 && /^AMI connection to pbx1 .* failed/.test(String(l.msg)));
  await until(() => loggedIn() === 1, 20_000, 'the first login');

  await server.close();
  await until(() => failures().length >= 4, 30_000, 'four retries against the stopped PBX');
  for (const f of failures()) expect(Number(f.retry_in_ms)).toBeLessThanOrEqual(1000);

  server = await startAmiReplayServer({ captures: [{ bytes }], secret: SECRET, pace: 'instant', port });
  const failedBeforeBack = failures().length;
  await until(() => loggedIn() === 2, 20_000, 'the login after the PBX is back');
  // at most the one retry that was already under way when it came back failed
  expect(failures().length - failedBeforeBack).toBeLessThanOrEqual(1);
});
