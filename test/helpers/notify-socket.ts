/**
 * A stand-in for systemd's notification socket (NOTIFY_SOCKET): a unix datagram socket
 * bound by a small python3 process (Node has no unix datagram sockets), which prints each
 * message as a JSON line and closes the file descriptors a message carries, as the
 * manager does (that is how `systemd-notify`'s barrier learns its message was read).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir } from './config.js';
import { until } from './daemon.js';

const SERVER = String.raw`
import json, os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print(json.dumps({"bound": path}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
    fds = 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(payload) - len(payload) % 4, 4):
                os.close(int.from_bytes(payload[i:i + 4], sys.byteorder))
                fds += 1
    print(json.dumps({"fields": data.decode().split("\n"), "fds": fds}), flush=True)
`;

export interface NotifySocket {
  path: string;
  /** every message but the barriers, in order: its KEY=value lines */
  messages: string[][];
  /** resolves with the first message (after `from`) that has this line */
  waitFor(line: string | RegExp, from?: number, timeoutMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function startNotifySocket(): Promise<NotifySocket> {
  const path = join(tempDir('callhook-notify-'), 'notify.sock');
  const proc: ChildProcess = spawn('python3', ['-c', SERVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[][] = [];
  let bound = false;
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { bound?: string; fields?: string[] };
    if (m.bound) bound = true;
    else if (m.fields && !m.fields.includes('BARRIER=1')) messages.push(m.fields.filter(Boolean));
  });
  await until(() => bound, 10_000, 'the notify socket bound');
  const has = (fields: string[], line: string | RegExp) => fields.some((f) => (typeof line === 'string' ? f === line : line.test(f)));
  return {
    path,
    messages,
    async waitFor(line, from = 0, timeoutMs = 20_000) {
      const find = () => messages.slice(from).find((f) => has(f, line));
      await until(() => find() !== undefined, timeoutMs, `a notify message with ${String(line)}`);
      return find()!;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}
