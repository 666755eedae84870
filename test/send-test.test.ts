/** `callhook send-test` against a real receiver: one sample event, in the webhook's format, signed. */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { verifySignature } from './helpers/verify.js';
import { writeConfig } from './helpers/config.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

let receiver: Receiver | null = null;
afterEach(async () => {
  await receiver?.close();
  receiver = null;
});

function sendTest(config: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['dist/src/cli.js', 'send-test', '--config', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

describe('callhook send-test', () => {
  it('sends one signed sample event in the webhook format and prints the response', async () => {
    receiver = await startReceiver((_r, res) => res.writeHead(202).end('thanks'));
    const secret = 'whsec_c2VuZC10ZXN0LXNlY3JldC1rZXktMTIzNDU2';
    const config = writeConfig(`
pbx:
  - {name: pbx1, type: asterisk, username: u, secret: s}
webhooks:
  - name: vs
    url: ${receiver.url}/vs
    events: ["*"]
    format: voipstudio
    signing_secret: ${secret}
`);
    const r = await sendTest(config, ['--webhook', 'vs', '--event', 'call.connected']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/-> 202 in \d+ ms/);
    expect(r.out).toContain('thanks');
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0];
    const h = (k: string) => String(req.headers[k]);
    expect(verifySignature(secret, h('webhook-id'), h('webhook-timestamp'), req.body, h('webhook-signature'))).toBe(true);
    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(body.event_name).toBe('call.connected');
    expect(body.state).toBe('CONNECTED');
    expect(String(body.event_time)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it('names the configured webhooks when the name is wrong, and fails on a non-2xx answer', async () => {
    receiver = await startReceiver((_r, res) => res.writeHead(500).end('boom'));
    const config = writeConfig(`
pbx:
  - {name: pbx1, type: asterisk, username: u, secret: s}
webhooks:
  - {name: crm, url: "${receiver.url}/x", events: ["*"]}
`);
    const wrong = await sendTest(config, ['--webhook', 'nope']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toContain('configured: crm');
    const failed = await sendTest(config, ['--webhook', 'crm']);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/-> 500/);
  });
});
