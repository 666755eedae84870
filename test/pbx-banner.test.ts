/**
 * The secret goes only to something that proved it is the PBX: the real daemon is pointed at
 * a port where something else answers (an SSH server's banner), and must name it in the log
 * and never write its login there (#12 point 5).
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, writeConfig } from './helpers/config.js';
import { spawnDaemon, until, type DaemonProcess } from './helpers/daemon.js';

const SECRET = 'very-secret-pbx-password-1234';

/** a server that greets every connection with `banner` and keeps what it is sent */
async function impostor(banner: string) {
  let received = '';
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', (d) => (received += d.toString('latin1')));
    s.on('error', () => undefined);
    s.write(banner);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    connections: () => connections,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

let daemon: DaemonProcess | null = null;
let server: Awaited<ReturnType<typeof impostor>> | null = null;
afterEach(async () => {
  await daemon?.stop();
  await server?.close();
  daemon = server = null;
});

describe.each([
  ['asterisk', 'username: callhook', /is not an AMI server: no login sent/],
  ['freeswitch', '', /is not a FreeSWITCH event socket: it answered "SSH-2\.0-OpenSSH_9\.2p1 Debian-2"; no password sent/],
] as const)('%s: an SSH server on the PBX port', (type, extra, logged) => {
  it('is named in the log and never gets the secret, on the first connection or a retry', async () => {
    server = await impostor('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
    const dir = tempDir();
    const file = writeConfig(`
pbx:
  - {name: pbx1, type: ${type}, host: 127.0.0.1, port: ${server.port}, secret: "\${PBX_SECRET}"${extra ? `, ${extra}` : ''}, action_timeout: 2s}
webhooks:
  - {name: crm, url: "http://127.0.0.1:9/hooks", events: ["*"]}
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
`, dir);
    daemon = spawnDaemon(file, [], { PBX_SECRET: SECRET });
    const line = await daemon.waitForLog((l) => logged.test(String(l.msg)), 20_000);
    if (type === 'asterisk') expect(line.banner).toBe('SSH-2.0-OpenSSH_9.2p1 Debian-2');
    await until(() => server!.connections() >= 2, 30_000, 'a reconnect attempt');
    expect(server.received()).not.toContain(SECRET);
    expect(server.received()).not.toMatch(/Login|auth /);
    expect(daemon.logs.some((l) => JSON.stringify(l).includes(SECRET))).toBe(false);
  });
});
