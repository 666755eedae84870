// AMI client over real TCP on 127.0.0.1: against the capture replay server, and against tiny
// hand-written AMI servers for the failure cases (silent server, Shutdown + EOF, dead Ping).
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AmiClient, type AmiClientOptions } from '../src/pbx/ami/client.js';
import { AmiFramer, type AmiMessage } from '../src/pbx/ami/framer.js';
import { startAmiReplayServer, type AmiReplayServer } from '../src/demo/ami-replay-server.js';
import { backoffDelay, FAST_RETRIES } from '../src/pbx/backoff.js';
import { memoryLogger } from './helpers/logger.js';

const dir = fileURLToPath(new URL('./fixtures/asterisk/', import.meta.url));
function capture(name: string) {
  return {
    bytes: readFileSync(`${dir}${name}.ami`),
    chunks: JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8')).chunks,
  };
}
/** what a client should see as events: every message but the capture's own login response */
function captureEvents(bytes: Buffer): AmiMessage[] {
  return new AmiFramer().push(bytes).slice(1);
}

const SECRET = 'bridge-secret-do-not-log';


const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function makeClient(port: number, extra: Partial<AmiClientOptions> = {}) {
  const { logger, lines } = memoryLogger();
  const client = new AmiClient({
    host: '127.0.0.1',
    port,
    username: 'bridge',
    secret: SECRET,
    logger,
    name: 'pbx-test',
    actionTimeoutMs: 1000,
    pingIntervalMs: 5000,
    backoff: { initialMs: 50, maxMs: 200 },
    ...extra,
  });
  const events: AmiMessage[] = [];
  client.on('event', (m) => events.push(m));
  cleanups.push(() => client.stop());
  return { client, events, lines };
}

async function replay(opts: Partial<Parameters<typeof startAmiReplayServer>[0]> & { captures: Parameters<typeof startAmiReplayServer>[0]['captures'] }) {
  const server: AmiReplayServer = await startAmiReplayServer({ secret: SECRET, username: 'bridge', pace: 'instant', ...opts });
  cleanups.push(() => server.close());
  return server;
}

async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A tiny AMI server: banner, Login accepted, CoreShowChannels answered with an empty list;
 * every other action goes to `onAction` (which may ignore it).
 */
async function fakeAmi(onAction: (msg: AmiMessage, socket: net.Socket) => void = () => {}) {
  const seen: AmiMessage[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const framer = new AmiFramer();
    socket.write('Asterisk Call Manager/13.0.0\r\n');
    socket.on('data', (chunk) => {
      for (const msg of framer.push(chunk)) {
        seen.push(msg);
        const id = msg.ActionID;
        if (msg.Action === 'Login') socket.write(`Response: Success\r\nActionID: ${id}\r\nMessage: Authentication accepted\r\n\r\n`);
        else if (msg.Action === 'CoreShowChannels')
          socket.write(
            `Response: Success\r\nActionID: ${id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n` +
              `Event: CoreShowChannelsComplete\r\nActionID: ${id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n`,
          );
        else onAction(msg, socket);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    get connections() {
      return connections;
    },
    sockets,
  };
}

describe('backoffDelay', () => {
  it('about a minute of retries every 0.5-1 s after a loss, then a doubling ceiling with full jitter, capped at 30 s', () => {
    const hi = () => 0.999999;
    for (let a = 0; a < FAST_RETRIES; a++) {
      expect(backoffDelay(a, { random: hi })).toBeLessThanOrEqual(1000);
      expect(backoffDelay(a, { random: () => 0 })).toBe(500);
    }
    let total = 0;
    for (let a = 0; a < FAST_RETRIES; a++) total += backoffDelay(a, { random: () => 0.5 });
    expect(total).toBe(45_000); // the fast phase lasts 30-60 s
    expect(backoffDelay(FAST_RETRIES, { random: hi })).toBeGreaterThan(1000);
    expect(backoffDelay(FAST_RETRIES, { random: hi })).toBeLessThanOrEqual(2000);
    expect(backoffDelay(FAST_RETRIES + 20, { random: hi })).toBeGreaterThan(29_000);
    expect(backoffDelay(FAST_RETRIES + 20, { random: hi })).toBeLessThanOrEqual(30_000);
    expect(backoffDelay(FAST_RETRIES + 3, { random: () => 0 })).toBe(0);
    expect(backoffDelay(FAST_RETRIES + 2, { initialMs: 10, maxMs: 25, random: () => 0.99 })).toBeLessThanOrEqual(25);
  });
});

describe('AmiClient against the replay server', () => {
  it('logs in, emits exactly the capture events in order, resyncs, then reports connected', async () => {
    const cap = capture('a-answered-caller-hangup');
    const server = await replay({ captures: [cap] });
    const { client, events, lines } = makeClient(server.port);
    const order: string[] = [];
    client.on('resync', () => order.push('resync'));
    client.on('connected', () => order.push('connected'));
    client.start();
    const expected = captureEvents(cap.bytes);
    await until(() => events.length >= expected.length, 3000, 'all events');
    await until(() => order.length === 2, 3000, 'connected');
    expect(events).toEqual(expected);
    expect(order).toEqual(['resync', 'connected']);
    expect(client.connected).toBe(true);
    const res = await client.action({ Action: 'Ping' });
    expect(res.response).toMatchObject({ Response: 'Success', Ping: 'Pong' });
    const unknown = await client.action({ Action: 'NoSuchThing' });
    expect(unknown.response).toMatchObject({ Response: 'Error', Message: 'Invalid/unknown command' });
    await new Promise((r) => setTimeout(r, 50));
    expect(events.length).toBe(expected.length); // our own responses never show up as events
    const disconnected = once(client, 'disconnected');
    await client.stop();
    expect(await disconnected).toEqual(['stopped']);
    expect(client.connected).toBe(false);
    const log = lines.join('');
    expect(log).toContain(`AMI connected and logged in to pbx-test at 127.0.0.1:${server.port}`);
    expect(log).not.toContain(SECRET);
  });

  it('wrong secret: clear auth error, keeps retrying with backoff, never logs the secret', async () => {
    const server = await startAmiReplayServer({ captures: [capture('q-ami-originate-agent-busy')], secret: 'the-right-one', pace: 'instant' });
    cleanups.push(() => server.close());
    const { client, events, lines } = makeClient(server.port);
    const errors: Error[] = [];
    client.on('auth_error', (e) => errors.push(e));
    client.start();
    await until(() => errors.length >= 3, 3000, 'three auth errors');
    expect(errors[0].message).toBe(`AMI login failed for user bridge at 127.0.0.1:${server.port}: Authentication failed`);
    expect(client.connected).toBe(false);
    expect(events).toEqual([]);
    const log = lines.join('');
    expect(log).toContain('AMI login failed for user bridge');
    expect(log).not.toContain(SECRET);
    await expect(client.action({ Action: 'Ping' })).rejects.toThrow(/not connected/);
  });

  it('dropped connection: reconnects within 1 s, resyncs the live channels, and the call continues without loss', async () => {
    const cap = capture('a-answered-caller-hangup');
    const server = await replay({ captures: [cap], pace: 'recorded', speed: 10 });
    // default backoff: the first retry must come within 1 s
    const { client, events } = makeClient(server.port, { backoff: undefined });
    const resyncs: AmiMessage[][] = [];
    const disconnects: string[] = [];
    client.on('resync', (chs) => resyncs.push(chs));
    client.on('disconnected', (r) => disconnects.push(r));
    let bridged = 0;
    client.on('event', (m) => {
      if (m.Event === 'BridgeEnter' && ++bridged === 2) server.pause(); // mid-call, both legs bridged
    });
    client.start();
    await until(() => events.filter((e) => e.Event === 'BridgeEnter').length === 2, 4000, 'both BridgeEnter');
    expect(server.liveChannels()).toEqual(['PJSIP/caller-00000000', 'PJSIP/agent1-00000001']);

    const droppedAt = Date.now();
    server.dropClients();
    await until(() => disconnects.length === 1, 2000, 'disconnected');
    expect(disconnects[0]).toMatch(/closed by Asterisk|ECONNRESET/);
    await until(() => resyncs.length === 2, 2500, 'second resync');
    expect(Date.now() - droppedAt).toBeLessThan(1500);
    expect(resyncs[1].map((c) => c.Channel)).toEqual(['PJSIP/caller-00000000', 'PJSIP/agent1-00000001']);
    expect(resyncs[1][0]).toMatchObject({ Uniqueid: '1795268179.0', Linkedid: '1795268179.0', ChannelStateDesc: 'Up', CallerIDNum: '+15551230001' });
    expect(resyncs[1][1].BridgeId).toBe(resyncs[1][0].BridgeId);

    server.resume();
    await server.done;
    const expected = captureEvents(cap.bytes);
    await until(() => events.length >= expected.length, 3000, 'rest of the call');
    expect(events).toEqual(expected); // nothing lost or doubled across the outage
    expect(events.filter((e) => e.Event === 'Hangup').map((e) => e.Channel).sort()).toEqual(['PJSIP/agent1-00000001', 'PJSIP/caller-00000000']);
    expect(server.liveChannels()).toEqual([]);
  });

  it('a listener that throws is logged and does not stop the stream', async () => {
    const cap = capture('q-ami-originate-agent-busy');
    const server = await replay({ captures: [cap] });
    const { client, events, lines } = makeClient(server.port);
    client.on('event', (m) => {
      if (m.Event === 'FullyBooted') throw new Error('bug in a consumer');
    });
    client.start();
    const expected = captureEvents(cap.bytes);
    await until(() => events.length >= expected.length, 3000, 'all events');
    expect(events).toEqual(expected);
    expect(client.connected).toBe(true);
    expect(lines.join('')).toContain('AMI client listener threw');
  });

  it('actions while disconnected reject at once; CR/LF in a field is refused before sending', async () => {
    const { client } = makeClient(1); // never started
    await expect(client.action({ Action: 'Ping' })).rejects.toThrow('AMI pbx-test (127.0.0.1:1) is not connected: action Ping not sent');

    const server = await replay({ captures: [capture('q-ami-originate-agent-busy')] });
    const c2 = makeClient(server.port).client;
    c2.start();
    await once(c2, 'connected');
    await expect(c2.action({ Action: 'Originate', Channel: 'PJSIP/agent1\r\nAction: Logoff' })).rejects.toThrow(/"Channel".*CR or LF/);
    expect(c2.connected).toBe(true);
  });
});

describe('AmiClient against misbehaving servers', () => {
  it('an action nobody answers times out with a clear error; the connection stays', async () => {
    const fake = await fakeAmi(); // never answers other actions
    const { client } = makeClient(fake.port, { actionTimeoutMs: 300 });
    client.start();
    await once(client, 'connected');
    const started = Date.now();
    await expect(client.action({ Action: 'Command', Command: 'core show uptime' })).rejects.toThrow(
      /AMI action Command \(ActionID callhook-[0-9a-f]+-\d+\) to pbx-test at 127\.0\.0\.1:\d+ timed out after 300 ms/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(client.connected).toBe(true);
  });

  it('pending actions reject when the connection drops, then it reconnects', async () => {
    const fake = await fakeAmi((msg, socket) => {
      if (msg.Action === 'Command') socket.destroy();
    });
    const { client } = makeClient(fake.port);
    client.start();
    await once(client, 'connected');
    await expect(client.action({ Action: 'Command', Command: 'x' })).rejects.toThrow(/lost .* before the response to Command/);
    await once(client, 'connected');
    expect(fake.connections).toBe(2);
  });

  it('sends Ping every pingIntervalMs', async () => {
    const fake = await fakeAmi((msg, socket) => {
      if (msg.Action === 'Ping') socket.write(`Response: Success\r\nActionID: ${msg.ActionID}\r\nPing: Pong\r\n\r\n`);
    });
    const { client, events } = makeClient(fake.port, { pingIntervalMs: 100 });
    client.start();
    await once(client, 'connected');
    await until(() => fake.seen.filter((m) => m.Action === 'Ping').length >= 3, 2000, 'three pings');
    expect(client.connected).toBe(true);
    expect(fake.connections).toBe(1);
    expect(events).toEqual([]); // Pong responses are not events
  });

  it('a Ping that times out destroys the socket and reconnects', async () => {
    const fake = await fakeAmi(); // ignores Ping
    const { client } = makeClient(fake.port, { pingIntervalMs: 100, actionTimeoutMs: 200 });
    const reasons: string[] = [];
    client.on('disconnected', (r) => reasons.push(r));
    client.start();
    await until(() => reasons.length >= 1 && fake.connections >= 2, 3000, 'reconnect after dead ping');
    expect(reasons[0]).toMatch(/^keepalive Ping failed: AMI action Ping .* timed out after 200 ms$/);
  });

  it('bytes are liveness: a PBX streaming a backlog is not dropped when its Ping reply is late; a silent one is in doubt at once', async () => {
    const fake = await fakeAmi(); // never answers Ping
    const { client } = makeClient(fake.port, { pingIntervalMs: 100, actionTimeoutMs: 200 });
    const reasons: string[] = [];
    client.on('disconnected', (r) => reasons.push(r));
    client.start();
    await until(() => client.connected, 3000, 'login');
    const socket = [...fake.sockets][0];
    // the flood: an event every 20 ms, no Ping reply
    let n = 0;
    const flood = setInterval(() => socket.write(`Event: VarSet\r\nVariable: X\r\nValue: ${n++}\r\n\r\n`), 20);
    try {
      await until(() => fake.seen.filter((m) => m.Action === 'Ping').length >= 6, 5000, 'six unanswered Pings');
      expect(reasons).toEqual([]);
      expect(client.connected).toBe(true);
    } finally {
      clearInterval(flood);
    }
    // silence: in doubt (not connected for /readyz) before the next Ping even fails
    await until(() => !client.connected, 3000, 'liveness in doubt');
    await until(() => reasons.length === 1, 3000, 'the silent connection dropped');
    expect(reasons[0]).toMatch(/keepalive Ping failed/);
  });

  it('Event: Shutdown followed by EOF is a disconnect with a reason, then a reconnect', async () => {
    let first = true;
    const fake = await fakeAmi((msg, socket) => {
      if (msg.Action === 'Ping' && first) {
        first = false;
        socket.end('Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n');
      }
    });
    const { client, events } = makeClient(fake.port, { pingIntervalMs: 100 });
    client.start();
    const [reason] = await once(client, 'disconnected');
    expect(reason).toBe('Asterisk shut down (Event: Shutdown)');
    expect(events.at(-1)).toMatchObject({ Event: 'Shutdown', Shutdown: 'Cleanly' });
    await once(client, 'connected');
    expect(fake.connections).toBe(2);
  });

  it('a server that never sends the banner is given up on, and retried', async () => {
    let connections = 0;
    const silent = net.createServer((s) => {
      connections++;
      s.on('error', () => {});
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
    const { client, lines } = makeClient((silent.address() as net.AddressInfo).port, { actionTimeoutMs: 150 });
    client.start();
    await until(() => connections >= 2, 3000, 'retry');
    await client.stop();
    expect(lines.join('')).toContain('no AMI banner within 150 ms');
  });
});
