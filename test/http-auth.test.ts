/**
 * The daemon's HTTP endpoints off loopback: `check` refuses a non-loopback http.listen
 * without a token; with one, the running daemon warns at start, /metrics, /calls and the web
 * view answer 401 without the bearer token and 200 with it, and /readyz tells strangers only its status
 * (#12 point 4). Real daemon process, real HTTP requests.
 */
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { afterEach, expect, it } from 'vitest';
import { pbxlessConfig } from './helpers/config.js';
import { CLI, spawnDaemon, type DaemonProcess } from './helpers/daemon.js';

const TOKEN = 'f3a9c1d27e6b4a58b0c9d1e2f3a4b5c6';
let daemon: DaemonProcess | null = null;
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
});

const config = (http: string) => pbxlessConfig(`webhooks:
  - {name: crm, url: "http://127.0.0.1:9/hooks", events: ["*"]}
http: ${http}`);

it('check refuses http.listen on every interface without a token, and names the fix', () => {
  const file = config('{listen: "0.0.0.0:9466"}');
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8' });
  expect(r.status).toBe(78);
  expect(r.stderr).toMatch(/http\.listen: 0\.0\.0\.0:9466 is reachable from other hosts: set http\.token/);
});

it('with a token: a warning at start, 401 without it, 200 with it, /readyz status only for strangers', async () => {
  daemon = spawnDaemon(config('{listen: "0.0.0.0:0", token: "${HTTP_TOKEN}"}'), [], { HTTP_TOKEN: TOKEN });
  const listening = await daemon.waitForLog((l) => String(l.msg).startsWith('http server listening'));
  await daemon.waitForLog((l) => l.level === 40 && /reachable from other hosts/.test(String(l.msg)));
  const port = new URL(String(listening.url)).port;
  const get = async (path: string, auth?: string) => {
    const r = await request(`http://127.0.0.1:${port}${path}`, { headers: auth ? { authorization: auth } : {} });
    return { status: r.statusCode, body: await r.body.text() };
  };
  for (const path of ['/metrics', '/calls', '/calls/x', '/', '/view', '/view/call/pbx1%3A1.0']) {
    expect((await get(path)).status, path).toBe(401);
    expect((await get(path, 'Bearer wrong-token-wrong-token-00')).status, path).toBe(401);
  }
  expect((await get('/metrics', `Bearer ${TOKEN}`)).status).toBe(200);
  expect((await get('/calls', `Bearer ${TOKEN}`)).status).toBe(200);
  expect((await get('/view', `Bearer ${TOKEN}`)).body).toContain('<h1>Calls</h1>');
  const stranger = await get('/readyz');
  expect(JSON.parse(stranger.body)).toEqual({ ready: false });
  expect(stranger.body).not.toContain('store');
  expect(JSON.parse((await get('/readyz', `Bearer ${TOKEN}`)).body)).toHaveProperty('store');
  expect((await get('/healthz')).status).toBe(200);
  expect(daemon.logs.some((l) => JSON.stringify(l).includes(TOKEN))).toBe(false);
});
