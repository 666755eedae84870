/**
 * Benchmark 7, the kill window: the real daemon (a child process, `callhook run`) takes in
 * real calls replayed from the captures as fast as its socket takes them, to a receiver that
 * answers 503, so nothing leaves the outbox. The moment its own /metrics counts N events it
 * is killed with SIGKILL; then its store is opened and its rows counted. An event the daemon
 * counted and the store does not hold is lost. Repeated `kills` times, each with a fresh
 * store; every kill must lose 0.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startAmiReplayServer } from '../src/demo/ami-replay-server.js';
import { readCapture } from '../src/pbx/capture.js';
import { FIXTURES } from './streams.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const CALLS = ['a-answered-caller-hangup', 'b-answered-agent-hangup', 'f-hold-unhold', 'h-queue-answered', 'n-concurrent-calls'];
const SECRET = 'bench-kill-secret';

export interface KillResult {
  kills: number;
  /** events the daemon counted at each kill, and how many of them its store lacked */
  counted: number[];
  lost: number[];
  totalLost: number;
}

function eventsTotal(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('callhook_events_total{')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function once(events: number, amiPort: number, receiverUrl: string, timeoutMs: number): Promise<{ counted: number; stored: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'callhook-kill-'));
  const config = join(dir, 'callhook.yaml');
  writeFileSync(config, `pbx:
  - name: pbx1
    type: asterisk
    host: 127.0.0.1
    port: ${amiPort}
    username: callhook
    secret: \${AMI_SECRET}
    trunks: ["PJSIP/caller*", "PJSIP/external*"]
webhooks:
  - name: crm
    url: ${receiverUrl}
    events: ["*"]
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: "127.0.0.1:0"}
log: {level: info}
`);
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, AMI_SECRET: SECRET } });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error('kill bench: the daemon did not start')), timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*http server listening/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const deadline = Date.now() + timeoutMs;
    let counted = 0;
    for (;;) {
      counted = eventsTotal(await (await fetch(`${url}/metrics`)).text());
      if (counted >= events) break;
      if (Date.now() > deadline) throw new Error(`kill bench: only ${counted} of ${events} events in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    const db = new Database(join(dir, 'store', 'callhook.db'), { readonly: true });
    const stored = (db.prepare('SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n;
    db.close();
    return { counted, stored };
  } finally {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchKill(opts: { kills: number; events: number; timeoutMs: number }): Promise<KillResult> {
  const receiver = createServer((_q, res) => void res.writeHead(503).end('down'));
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/h`;
  const captures = CALLS.map((c) => ({ bytes: readCapture(join(FIXTURES, 'asterisk', `${c}.ami`)).bytes }));
  const result: KillResult = { kills: 0, counted: [], lost: [], totalLost: 0 };
  try {
    for (let i = 0; i < opts.kills; i++) {
      // a fresh PBX stream per daemon
      const ami = await startAmiReplayServer({ captures, secret: SECRET, pace: 'instant', loop: true });
      try {
        const { counted, stored } = await once(opts.events, ami.port, receiverUrl, opts.timeoutMs);
        result.kills++;
        result.counted.push(counted);
        result.lost.push(Math.max(0, counted - stored));
      } finally {
        await ami.close();
      }
    }
  } finally {
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
  }
  result.totalLost = result.lost.reduce((a, b) => a + b, 0);
  return result;
}
