/**
 * A second AMI session for a live test, as an operator panel would have: it logs in with the
 * kit's lab user, watches events, and sends actions (Atxfer, Hangup). Bounded: every wait
 * times out, and close() ends the socket.
 */
import net from 'node:net';

type Msg = Record<string, string>;

export class AmiSession {
  private readonly msgs: Msg[] = [];
  private buf = '';
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\r\n\r\n')) >= 0) {
        const block = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 4);
        const m: Msg = {};
        for (const line of block.split('\r\n')) {
          const c = line.indexOf(': ');
          if (c > 0 && !(line.slice(0, c) in m)) m[line.slice(0, c)] = line.slice(c + 2);
        }
        this.msgs.push(m);
      }
      for (const w of this.waiters) w();
    });
  }

  static async open(port: number, username: string, secret: string): Promise<AmiSession> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
    const s = new AmiSession(sock);
    s.send({ Action: 'Login', Username: username, Secret: secret, ActionID: 'login' });
    const r = await s.next((m) => m.ActionID === 'login', 'login');
    if (r.Response !== 'Success') throw new Error(`AMI login refused: ${r.Message}`);
    return s;
  }

  send(fields: Msg): void {
    this.sock.write(`${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
  }

  /** the first message so far (or to come) that passes `test` */
  next(test: (m: Msg) => boolean, what: string, timeoutMs = 20_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.msgs.find(test);
        if (!m) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`AMI: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** sends an action and resolves with its response */
  async action(fields: Msg): Promise<Msg> {
    const id = `a${Math.random().toString(36).slice(2)}`;
    this.send({ ...fields, ActionID: id });
    return this.next((m) => m.ActionID === id && 'Response' in m, `${fields.Action} response`);
  }

  close(): void {
    this.sock.destroy();
  }
}
