/**
 * 429 with Retry-After is a receiver pacing a webhook, not a fault (#11): the real daemon
 * waits as asked, does not count it against the breaker or the retry schedule, and every
 * event arrives. A real receiver answers the first request of each event with
 * `429 Retry-After: 1`.
 */
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { CallEvent } from '../src/calls/events.js';
import { readCapture } from '../src/pbx/capture.js';
import { startAmiReplayServer } from '../src/demo/ami-replay-server.js';
import { asteriskPbxYaml, tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, until } from './helpers/daemon.js';
import { startReceiver } from './helpers/receiver.js';

const SECRET = 's3cret';
const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

it('every event arrives on its second request, at least Retry-After later; the breaker never opens', async () => {
  const { bytes } = readCapture('test/fixtures/asterisk/live/inbound.ami');
  const ami = await startAmiReplayServer({ captures: [{ bytes }], secret: SECRET, pace: 'instant' });
  cleanup.push(() => ami.close());
  const asked = new Set<string>();
  const rec = await startReceiver((req, res) => {
    const id = String(req.headers['webhook-id']);
    if (asked.has(id)) return void res.writeHead(200).end('ok');
    asked.add(id);
    res.writeHead(429, { 'retry-after': '1' }).end('slow down');
  });
  cleanup.push(() => rec.close());
  const dir = tempDir();
  const file = writeConfig(`${asteriskPbxYaml(ami.port)}
webhooks:
  - name: crm
    url: ${rec.url}/hooks
    events: ["*"]
    retry: {schedule: [0s, 1h]}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
`, dir);
  const daemon = spawnDaemon(file, [], { AMI_SECRET: SECRET });
  cleanup.push(() => daemon.stop('SIGKILL'));
  await until(() => rec.requests.some((q) => q.headers['webhook-id'] && asked.has(String(q.headers['webhook-id'])) && JSON.parse(q.body).event_name === 'call.reporting' && rec.requests.filter((r) => r.headers['webhook-id'] === q.headers['webhook-id']).length === 2), 60_000, 'call.reporting delivered');
  const byId = new Map<string, number[]>();
  for (const q of rec.requests) byId.set(String(q.headers['webhook-id']), [...(byId.get(String(q.headers['webhook-id'])) ?? []), q.at]);
  const names = rec.requests.map((q) => (JSON.parse(q.body) as CallEvent).event_name);
  expect(new Set(names)).toContain('call.hangup');
  for (const [id, at] of byId) {
    expect(at, id).toHaveLength(2);
    // the webhook waited as asked (a 1 h retry schedule would have parked it)
    expect(at[1] - at[0], id).toBeGreaterThanOrEqual(990);
  }
  expect(daemon.logs.some((l) => /circuit breaker open/.test(String(l.msg)))).toBe(false);
});
