/**
 * A small scripted SIP phone (UDP, loopback) for what sipp cannot do: a desk phone's attended
 * transfer, which needs two calls at once and a REFER whose Refer-To carries Replaces for the
 * second (RFC 5589 §7). It answers the calls it gets (180, then 200 with SDP), places calls,
 * answers NOTIFY / BYE / re-INVITE / OPTIONS, and sends no media. Bounded: every wait times out.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

interface Msg {
  first: string;
  headers: Array<[string, string]>;
  body: string;
}

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** our From / To header values in this dialog */
  local: string;
  remote: string;
  remoteTarget: string;
  cseq: number;
  ended: boolean;
}

const COMPACT: Record<string, string> = { i: 'call-id', f: 'from', t: 'to', v: 'via', m: 'contact', l: 'content-length', c: 'content-type' };
const token = () => randomBytes(6).toString('hex');

function parse(buf: Buffer): Msg {
  const text = buf.toString('utf8');
  const at = text.indexOf('\r\n\r\n');
  const head = (at < 0 ? text : text.slice(0, at)).split('\r\n');
  const headers = head.slice(1).map((l): [string, string] => {
    const i = l.indexOf(':');
    const name = l.slice(0, i).trim().toLowerCase();
    return [COMPACT[name] ?? name, l.slice(i + 1).trim()];
  });
  return { first: head[0], headers, body: at < 0 ? '' : text.slice(at + 4) };
}

const header = (m: Msg, name: string) => m.headers.find(([n]) => n === name)?.[1] ?? '';
const tagOf = (v: string) => /;tag=([^;>\s]+)/.exec(v)?.[1] ?? '';
const uriOf = (v: string) => /<([^>]+)>/.exec(v)?.[1] ?? v.split(';')[0];

export class Phone {
  private readonly sock = dgram.createSocket('udp4');
  private readonly waiters: Array<{ test: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  readonly dialogs: Dialog[] = [];
  private readonly me: string;

  private constructor(readonly user: string, readonly port: number, private readonly pbx: { host: string; port: number }) {
    this.me = `sip:${user}@127.0.0.1:${port}`;
    this.sock.on('message', (b) => this.onMessage(parse(b)));
  }

  static async start(user: string, port: number, pbxPort: number): Promise<Phone> {
    const p = new Phone(user, port, { host: '127.0.0.1', port: pbxPort });
    await new Promise<void>((r) => p.sock.bind(port, '127.0.0.1', r));
    return p;
  }

  close(): void {
    this.sock.close();
  }

  private sdp(): string {
    return ['v=0', `o=${this.user} 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.port + 1000} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
  }

  private send(lines: string[], body = ''): void {
    const withBody = body ? [...lines, 'Content-Type: application/sdp'] : lines;
    const text = `${[...withBody, `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n')}\r\n\r\n${body}`;
    this.sock.send(text, this.pbx.port, this.pbx.host);
  }

  private respond(req: Msg, status: string, extra: string[] = [], body = '', toTag?: string): void {
    const to = header(req, 'to');
    this.send([
      `SIP/2.0 ${status}`,
      ...req.headers.filter(([n]) => n === 'via').map(([, v]) => `Via: ${v}`),
      `From: ${header(req, 'from')}`,
      `To: ${toTag && !tagOf(to) ? `${to};tag=${toTag}` : to}`,
      `Call-ID: ${header(req, 'call-id')}`,
      `CSeq: ${header(req, 'cseq')}`,
      `Contact: <${this.me}>`,
      ...extra,
    ], body);
  }

  private onMessage(m: Msg): void {
    const waiter = this.waiters.findIndex((w) => w.test(m));
    if (m.first.startsWith('SIP/2.0')) {
      if (waiter >= 0) this.waiters.splice(waiter, 1)[0].resolve(m);
      return;
    }
    const method = m.first.split(' ')[0];
    const dialog = this.dialogs.find((d) => d.callId === header(m, 'call-id'));
    if (method === 'INVITE' && !dialog) {
      // a new call for this phone: ring, then answer
      const tag = token();
      this.dialogs.push({
        callId: header(m, 'call-id'), localTag: tag, remoteTag: tagOf(header(m, 'from')), local: `${header(m, 'to')};tag=${tag}`,
        remote: header(m, 'from'), remoteTarget: uriOf(header(m, 'contact')), cseq: 100, ended: false,
      });
      this.respond(m, '180 Ringing', [], '', tag);
      setTimeout(() => this.respond(m, '200 OK', [], this.sdp(), tag), 300);
    } else if (method === 'INVITE') {
      this.respond(m, '200 OK', [], this.sdp());
    } else if (method === 'ACK') {
      // nothing to answer
    } else {
      if (method === 'BYE' && dialog) dialog.ended = true;
      this.respond(m, '200 OK');
    }
    if (waiter >= 0) this.waiters.splice(waiter, 1)[0].resolve(m);
  }

  /** the next message that passes `test` */
  next(test: (m: Msg) => boolean, what: string, timeoutMs = 20_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const w = { test, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(new Error(`${this.user}: no ${what} within ${timeoutMs} ms`));
        }
      }, timeoutMs).unref();
    });
  }

  /** the first call this phone answers, once the PBX acknowledged the answer */
  async answered(timeoutMs = 20_000): Promise<Dialog> {
    await this.next((m) => m.first.startsWith('ACK'), 'answered call', timeoutMs);
    return this.dialogs[0];
  }

  /** places a call to `exten` and waits for the answer */
  async call(exten: string): Promise<Dialog> {
    const callId = `${token()}@127.0.0.1`;
    const tag = token();
    const from = `<${this.me}>;tag=${tag}`;
    const to = `<sip:${exten}@${this.pbx.host}:${this.pbx.port}>`;
    const branch = `z9hG4bK${token()}`;
    const base = (method: string, cseq: number, br: string) => [
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${br};rport`, `From: ${from}`, `To: ${to}`,
      `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`, `Contact: <${this.me}>`, 'Max-Forwards: 70',
    ];
    this.send([`INVITE ${to.slice(1, -1)} SIP/2.0`, ...base('INVITE', 1, branch)], this.sdp());
    const ok = await this.next((m) => header(m, 'call-id') === callId && /^SIP\/2\.0 [2-6]\d\d/.test(m.first), `answer to ${exten}`);
    if (!ok.first.startsWith('SIP/2.0 200')) throw new Error(`${this.user}: call to ${exten} failed: ${ok.first}`);
    const d: Dialog = {
      callId, localTag: tag, remoteTag: tagOf(header(ok, 'to')), local: from, remote: header(ok, 'to'),
      remoteTarget: uriOf(header(ok, 'contact')), cseq: 1, ended: false,
    };
    this.send([`ACK ${d.remoteTarget} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${token()};rport`,
      `From: ${d.local}`, `To: ${d.remote}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Max-Forwards: 70']);
    this.dialogs.push(d);
    return d;
  }

  /** an in-dialog request; resolves with its final response */
  async request(d: Dialog, method: string, extra: string[] = []): Promise<Msg> {
    d.cseq += 1;
    const branch = `z9hG4bK${token()}`;
    this.send([
      `${method} ${d.remoteTarget} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      `From: ${d.local}`, `To: ${d.remote}`, `Call-ID: ${d.callId}`, `CSeq: ${d.cseq} ${method}`,
      `Contact: <${this.me}>`, 'Max-Forwards: 70', ...extra,
    ]);
    return this.next((m) => m.first.startsWith('SIP/2.0') && !/^SIP\/2\.0 1\d\d/.test(m.first) && header(m, 'via').includes(branch), `${method} response`);
  }

  /**
   * The desk phone's attended transfer: REFER the party of `held` to the party of `consult`,
   * Refer-To carrying Replaces for the consult dialog (to-tag the PBX's, from-tag ours), then
   * wait for the PBX's NOTIFY that the transfer succeeded and hang up what is left.
   */
  async attendedTransfer(held: Dialog, consult: Dialog, target: string): Promise<void> {
    const replaces = encodeURIComponent(`${consult.callId};to-tag=${consult.remoteTag};from-tag=${consult.localTag}`);
    const done = this.next((m) => m.first.startsWith('NOTIFY') && /SIP\/2\.0 200/.test(m.body), 'NOTIFY 200 (transfer done)');
    const r = await this.request(held, 'REFER', [`Refer-To: <sip:${target}@${this.pbx.host}:${this.pbx.port}?Replaces=${replaces}>`, `Referred-By: <${this.me}>`]);
    if (!/^SIP\/2\.0 202/.test(r.first)) throw new Error(`${this.user}: REFER refused: ${r.first}`);
    await done;
    for (const d of [held, consult]) if (!d.ended) await this.request(d, 'BYE').then(() => (d.ended = true), () => undefined);
  }
}
