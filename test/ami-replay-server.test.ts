// The AMI replay server over real TCP on 127.0.0.1, driven by a raw socket (not our client):
// login, byte-exact streaming, recorded pacing, actions, CoreShowChannels against the real
// Asterisk's answer, drop/continue at message boundaries, pause/resume, loop.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AmiFramer, formatAction, type AmiMessage } from '../src/pbx/ami/framer.js';
import { startAmiReplayServer, type AmiReplayServerOptions } from '../src/demo/ami-replay-server.js';

const dir = fileURLToPath(new URL('./fixtures/asterisk/', import.meta.url));
function capture(name: string) {
  return {
    bytes: readFileSync(`${dir}${name}.ami`),
    chunks: JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8')).chunks as Array<{ t: number; offset: number; len: number }>,
  };
}
const BANNER = 'Asterisk Call Manager/13.0.0\r\n';
/** where a capture's stream starts: after the banner and its own login response */
function streamStart(bytes: Buffer): number {
  return bytes.indexOf('\r\n\r\n', BANNER.length) + 4;
}
function loginOk(id: string): string {
  return `Response: Success\r\nActionID: ${id}\r\nMessage: Authentication accepted\r\n\r\n`;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function server(opts: Partial<AmiReplayServerOptions> & Pick<AmiReplayServerOptions, 'captures'>) {
  const s = await startAmiReplayServer({ secret: 's3cret', pace: 'instant', ...opts });
  cleanups.push(() => s.close());
  return s;
}

class Raw {
  bytes = Buffer.alloc(0);
  msgs: AmiMessage[] = [];
  chunks = 0;
  closed = false;
  private framer = new AmiFramer();
  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks++;
      this.bytes = Buffer.concat([this.bytes, c]);
      this.msgs.push(...this.framer.push(c));
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }
  static async connect(port: number): Promise<Raw> {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const raw = new Raw(socket);
    cleanups.push(() => void socket.destroy());
    return raw;
  }
  send(fields: Record<string, string>): void {
    this.socket.write(formatAction(fields));
  }
  async until(cond: (r: Raw) => boolean, what: string, timeoutMs = 3000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond(this)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async login(secret = 's3cret', id = 'L1'): Promise<void> {
    this.send({ Action: 'Login', ActionID: id, Username: 'bridge', Secret: secret, Events: 'on' });
    await this.until((r) => r.msgs.some((m) => m.ActionID === id), 'login response');
  }
}

describe('AMI replay server', () => {
  it('refuses a wrong secret or username with Authentication failed and closes', async () => {
    const s = await server({ captures: [capture('q-ami-originate-agent-busy')], username: 'bridge' });
    const a = await Raw.connect(s.port);
    await a.login('wrong');
    expect(a.bytes.toString()).toBe(BANNER + 'Response: Error\r\nActionID: L1\r\nMessage: Authentication failed\r\n\r\n');
    await a.until((r) => r.closed, 'close');

    const b = await Raw.connect(s.port);
    b.send({ Action: 'Login', ActionID: 'L2', Username: 'someone', Secret: 's3cret' });
    await b.until((r) => r.closed, 'close');
    expect(b.msgs).toEqual([{ Response: 'Error', ActionID: 'L2', Message: 'Authentication failed' }]);
  });

  it('after login streams the capture byte for byte, without its banner and login response', async () => {
    const cap = capture('a-answered-caller-hangup');
    const s = await server({ captures: [cap] });
    const c = await Raw.connect(s.port);
    await c.until((r) => r.bytes.length >= BANNER.length, 'banner');
    expect(c.bytes.toString()).toBe(BANNER); // nothing before the login
    await c.login();
    await s.done;
    const expected = Buffer.concat([Buffer.from(BANNER + loginOk('L1')), cap.bytes.subarray(streamStart(cap.bytes))]);
    await c.until((r) => r.bytes.length >= expected.length, 'whole stream');
    expect(c.bytes.equals(expected)).toBe(true);
    expect(s.liveChannels()).toEqual([]); // every call of the capture ended
  });

  it('pace recorded keeps the sidecar chunking and timing (scaled by speed)', async () => {
    const cap = capture('q-ami-originate-agent-busy'); // 1.5 s recorded
    const s = await server({ captures: [cap], pace: 'recorded', speed: 3 });
    const c = await Raw.connect(s.port);
    await c.login();
    const started = Date.now();
    await s.done;
    const elapsed = Date.now() - started;
    const expected = Buffer.concat([Buffer.from(BANNER + loginOk('L1')), cap.bytes.subarray(streamStart(cap.bytes))]);
    await c.until((r) => r.bytes.length >= expected.length, 'whole stream');
    expect(c.bytes.equals(expected)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(400); // ~1.5 s / 3, the recorded gaps are kept
    expect(c.chunks).toBeGreaterThanOrEqual(3);
  });

  it('answers Ping, refuses unknown actions and actions before login', async () => {
    const s = await server({ captures: [capture('q-ami-originate-agent-busy')] });
    const c = await Raw.connect(s.port);
    c.send({ Action: 'Ping', ActionID: 'p0' });
    await c.until((r) => r.msgs.length === 1, 'answer');
    expect(c.msgs[0]).toEqual({ Response: 'Error', ActionID: 'p0', Message: 'Permission denied' });
    await c.login();
    await s.done;
    c.send({ Action: 'Ping', ActionID: 'p1' });
    c.send({ Action: 'Originate', ActionID: 'o1', Channel: 'PJSIP/agent1' });
    await c.until((r) => r.msgs.some((m) => m.ActionID === 'o1'), 'answers');
    expect(c.msgs.find((m) => m.ActionID === 'p1')).toMatchObject({ Response: 'Success', Ping: 'Pong' });
    expect(c.msgs.find((m) => m.ActionID === 'o1')).toEqual({ Response: 'Error', ActionID: 'o1', Message: 'Invalid/unknown command' });
  });

  it('CoreShowChannels mid-call lists the live channels like the real Asterisk did', async () => {
    const cap = capture('o-status-coreshowchannels-midcall');
    // cut the capture right after both legs entered the bridge, before the real CoreShowChannels
    const second = cap.bytes.indexOf('Event: BridgeEnter', cap.bytes.indexOf('Event: BridgeEnter') + 1);
    const cut = cap.bytes.indexOf('\r\n\r\n', second) + 4;
    const s = await server({ captures: [{ bytes: cap.bytes.subarray(0, cut) }] });
    const c = await Raw.connect(s.port);
    await c.login();
    await s.done;
    expect(s.liveChannels()).toEqual(['PJSIP/caller-00000024', 'PJSIP/agent1-00000025']);
    c.send({ Action: 'CoreShowChannels', ActionID: 'mine' });
    await c.until((r) => r.msgs.some((m) => m.Event === 'CoreShowChannelsComplete'), 'list');
    const list = c.msgs.filter((m) => m.ActionID === 'mine');
    expect(list[0]).toEqual({ Response: 'Success', ActionID: 'mine', EventList: 'start', Message: 'Channels will follow' });
    expect(list.at(-1)).toEqual({ Event: 'CoreShowChannelsComplete', ActionID: 'mine', EventList: 'Complete', ListItems: '2' });
    // compare with what the real Asterisk answered a moment later in the same call
    const real = new AmiFramer().push(cap.bytes).filter((m) => m.Event === 'CoreShowChannel');
    const ours = list.slice(1, -1);
    expect(ours).toHaveLength(2);
    const same = ['Channel', 'ChannelState', 'ChannelStateDesc', 'CallerIDNum', 'CallerIDName', 'ConnectedLineNum', 'ConnectedLineName',
      'Language', 'AccountCode', 'Context', 'Exten', 'Uniqueid', 'Linkedid', 'Application', 'ApplicationData', 'BridgeId'];
    for (let i = 0; i < 2; i++) {
      for (const k of same) expect([k, ours[i][k]]).toEqual([k, real[i][k]]);
      expect(ours[i].Duration).toMatch(/^\d\d:\d\d:\d\d$/);
    }
  });

  it('dropClients mid-message: the next client gets that message whole, and replies wait for message ends', async () => {
    const cap = capture('q-ami-originate-agent-busy');
    const start = streamStart(cap.bytes);
    const msgEnd = cap.bytes.indexOf('\r\n\r\n', start + 200) + 4; // the end of the message holding byte start+200
    const msgStart = cap.bytes.lastIndexOf('\r\n\r\n', start + 200) + 4;
    const mid = start + 200;
    expect(msgStart).toBeLessThan(mid);
    // two chunks: up to the middle of a message at once, the rest 100 s later
    const chunks = [
      { t: 0, offset: 0, len: mid },
      { t: 100, offset: mid, len: cap.bytes.length - mid },
    ];
    const s = await server({ captures: [{ bytes: cap.bytes, chunks }], pace: 'recorded' });
    const a = await Raw.connect(s.port);
    await a.login();
    const prefix = BANNER.length + loginOk('L1').length;
    await a.until((r) => r.bytes.length >= prefix + mid - start, 'first chunk');
    s.dropClients();
    await a.until((r) => r.closed, 'drop');

    const b = await Raw.connect(s.port);
    await b.login('s3cret', 'L2');
    await b.until((r) => r.bytes.length >= prefix + mid - msgStart, 'resent start of the message');
    b.send({ Action: 'Ping', ActionID: 'p' });
    await b.until((r) => r.msgs.some((m) => m.ActionID === 'p'), 'pong');
    const after = b.bytes.subarray(prefix).toString();
    const rest = cap.bytes.subarray(msgStart, msgEnd).toString();
    expect(after.startsWith(rest + 'Response: Success\r\nActionID: p\r\nPing: Pong\r\n')).toBe(true);
    // a's complete messages then b's: each message of the capture once, in order
    const all = [...a.msgs.slice(1), ...b.msgs.slice(1).filter((m) => m.ActionID !== 'p')];
    const expected = new AmiFramer().push(cap.bytes.subarray(0, msgEnd)).slice(1);
    expect(all).toEqual(expected);
  });

  it('pause holds the stream (but still answers), resume continues it', async () => {
    const cap = capture('d-agent-busy-486');
    const s = await server({ captures: [cap] });
    s.pause();
    const c = await Raw.connect(s.port);
    await c.login();
    c.send({ Action: 'Ping', ActionID: 'p' });
    await c.until((r) => r.msgs.length === 2, 'pong');
    await new Promise((r) => setTimeout(r, 100));
    expect(c.msgs.map((m) => m.ActionID)).toEqual(['L1', 'p']);
    s.resume();
    await s.done;
    const expected = new AmiFramer().push(cap.bytes).slice(1);
    await c.until((r) => r.msgs.length === 2 + expected.length, 'stream');
    expect(c.msgs.slice(2)).toEqual(expected);
  });

  it('loop starts over after the last capture; done resolves after the first pass', async () => {
    const cap = capture('q-ami-originate-agent-busy');
    const s = await server({ captures: [cap], loop: true });
    const c = await Raw.connect(s.port);
    await c.login();
    await s.done;
    const per = new AmiFramer().push(cap.bytes).length - 1;
    await c.until((r) => r.msgs.length > 1 + 2 * per, 'second pass');
    expect(c.msgs[1 + per]).toEqual(c.msgs[1]);
  });

  it('listens on 127.0.0.1 only', async () => {
    await expect(
      startAmiReplayServer({ captures: [capture('q-ami-originate-agent-busy')], secret: 'x', pace: 'instant', host: '0.0.0.0' as '127.0.0.1' }),
    ).rejects.toThrow(/127\.0\.0\.1 only/);
  });
});
