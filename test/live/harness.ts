/**
 * The live suite's parts: a real Asterisk / FreeSWITCH from ../shared/pbx started on
 * loopback, real SIP calls placed with sipp, the real daemon (as a child process, configured
 * the way docs/operations.md says) and a real receiver. Optionally a recording proxy between
 * callhook and the PBX writes what callhook saw as a capture (LIVE_RECORD=DIR), so a flow
 * becomes a fixture with the exact bytes of a real run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { CallEvent } from '../../src/calls/events.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { spawnDaemon, until, type DaemonProcess } from '../helpers/daemon.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KIT = process.env.CALLHOOK_PBX_KIT ?? resolve(ROOT, '../shared/pbx');
const HERE = fileURLToPath(new URL('./', import.meta.url));

export type Env = Record<string, string>;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, cmd)));
}

/**
 * Whether this machine can run the live suite: the PBX kit beside the checkout and sipp
 * (Debian's sip-tester; .ci/run installs it). Without them the live files are skipped and
 * say why, except under CI, where live.test.ts fails instead.
 */
export const LIVE = (() => {
  const missing: string[] = [];
  if (!existsSync(join(KIT, 'asterisk.sh'))) missing.push(`the PBX kit (${KIT})`);
  if (!onPath('sipp')) missing.push('sipp (apt-get install sip-tester)');
  return { ready: missing.length === 0, missing };
})();

function parseEnv(out: string): Env {
  const env: Env = {};
  for (const line of out.trim().split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

/** docs/operations.md's `[callhook]` manager.conf section, exactly as an operator copies it */
export function documentedManagerUser(): string {
  const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const block = /```ini\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/operations.md has no ```ini block');
  const at = block.indexOf('[callhook]');
  if (at < 0) throw new Error('the ini block has no [callhook] section');
  return block.slice(at);
}

export const AMI_USER_SECRET = 'change-me-to-a-long-random-string';

export interface Pbx {
  env: Env;
  dir: string;
  stop(): void;
}

/** Asterisk with the kit's lab config, our extra dialplan (test/live/asterisk-etc) and the documented AMI user */
export function startAsterisk(ports: Record<string, number | string>): Pbx {
  const dir = tempDir('ast-');
  const templates = join(dir, 'templates');
  mkdirSync(templates);
  for (const f of readdirSync(join(KIT, 'asterisk-etc'))) copyFileSync(join(KIT, 'asterisk-etc', f), join(templates, f));
  for (const f of readdirSync(join(HERE, 'asterisk-etc'))) copyFileSync(join(HERE, 'asterisk-etc', f), join(templates, f));
  // docs/operations.md's [general] asks for timestampevents; the kit's lab file has the rest
  const manager = readFileSync(join(templates, 'manager.conf'), 'utf8').replace('[general]\n', '[general]\ntimestampevents = yes\n');
  writeFileSync(join(templates, 'manager.conf'), `${manager}\n${documentedManagerUser().replace(/^secret = .*$/m, `secret = ${AMI_USER_SECRET}`)}\n`);
  const pbxDir = join(dir, 'pbx');
  const env: NodeJS.ProcessEnv = { ...process.env, ASTERISK_ETC_TEMPLATES: templates };
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  const out = execFileSync(join(KIT, 'asterisk.sh'), ['start', pbxDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env });
  return { env: parseEnv(out), dir: pbxDir, stop: () => execFileSync(join(KIT, 'asterisk.sh'), ['stop', pbxDir], { stdio: 'inherit' }) };
}

export function startFreeswitch(ports: Record<string, number | string>): Pbx {
  const dir = tempDir('fs-');
  const pbxDir = join(dir, 'pbx');
  const env: NodeJS.ProcessEnv = { ...process.env, FREESWITCH_STOP_TIMEOUT: '2' };
  const template = join(HERE, 'freeswitch.xml');
  if (existsSync(template)) env.FREESWITCH_CONF_TEMPLATE = template;
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  const out = execFileSync(join(KIT, 'freeswitch.sh'), ['start', pbxDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env });
  return { env: parseEnv(out), dir: pbxDir, stop: () => execFileSync(join(KIT, 'freeswitch.sh'), ['stop', pbxDir], { stdio: 'inherit', env }) };
}

// ---- sipp ---------------------------------------------------------------------------------

export const SIPP_AST = join(ROOT, '../shared/captures/asterisk/setup/sipp');
export const SIPP_FS = join(ROOT, '../shared/captures/freeswitch/setup/sipp');

let nextMediaPort = 26000;
let nextControlPort = 28888;

/** one sipp run, bounded (-timeout, -m 1); resolves with its exit code */
export function sipp(args: string[], timeoutS = 40): { done: Promise<number>; kill(): void } {
  const mp = (nextMediaPort += 4);
  const cp = nextControlPort++;
  const p = spawn('sipp', [...args, '-i', '127.0.0.1', '-mi', '127.0.0.1', '-mp', String(mp), '-cp', String(cp), '-m', '1', '-nostdin', '-timeout', `${timeoutS}s`, '-timeout_error'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number>((r) => p.on('exit', (code) => r(code ?? -1)));
  void done.then((code) => {
    if (code !== 0 && process.env.LIVE_DEBUG) process.stderr.write(`sipp ${args.join(' ')} exited ${code}: ${err}\n`);
  });
  return { done, kill: () => p.kill('SIGKILL') };
}

// ---- a recording proxy ------------------------------------------------------------------

export interface RecordingProxy {
  port: number;
  /** writes the PBX-to-callhook bytes as FILE (.ami/.esl) and FILE's .json sidecar of recv() chunks */
  save(file: string): void;
  close(): Promise<void>;
}

/** a TCP proxy to 127.0.0.1:target that keeps every byte the PBX sent, with its arrival time */
export async function startRecordingProxy(target: number): Promise<RecordingProxy> {
  const chunks: Buffer[] = [];
  const times: Array<{ t: number; offset: number; len: number }> = [];
  let offset = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      times.push({ t: Date.now() / 1000, offset, len: d.length });
      offset += d.length;
      client.write(d);
    });
    client.on('data', (d: Buffer) => upstream.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    save(file) {
      writeFileSync(file, Buffer.concat(chunks));
      writeFileSync(file.replace(/\.(ami|esl)$/, '.json'), `${JSON.stringify({ chunks: times })}\n`);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// ---- callhook ------------------------------------------------------------------------------

export interface Callhook {
  daemon: DaemonProcess;
  receiver: Receiver;
  proxy: RecordingProxy;
  events(): CallEvent[];
  /** the events of one call, once its call.reporting arrived */
  call(pred: (evs: CallEvent[]) => boolean, what: string, timeoutMs?: number): Promise<CallEvent[]>;
  /** kill -9 the daemon, as a crash does (its store stays) */
  crash(): Promise<void>;
  /** a new daemon on the same config and store, once it is connected */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** the real daemon connected through a recording proxy, every event to a real receiver */
export async function startCallhook(pbxYaml: (port: number) => string, pbxPort: number, extraYaml = ''): Promise<Callhook> {
  const receiver = await startReceiver();
  const proxy = await startRecordingProxy(pbxPort);
  const dir = tempDir();
  const file = writeConfig(`${pbxYaml(proxy.port)}
webhooks:
  - name: crm
    url: ${receiver.url}/hooks/{{call_id}}
    events: ["*"]
storage: {path: ${JSON.stringify(join(dir, 'store'))}}
http: {listen: off}
log: {level: info}
${extraYaml}`, dir);
  const spawn = async () => {
    const d = spawnDaemon(file, [], { AMI_SECRET: AMI_USER_SECRET });
    // connected, and the PBX's channel list taken: what the PBX does from now on is seen live
    await d.waitForLog((l) => String(l.msg).startsWith('calls resynchronised'), 30_000);
    return d;
  };
  let daemon = await spawn();
  // the calls this test placed: a call still up in the PBX from an earlier test is adopted at
  // connect (its first event reconciled) and left out
  const events = () => {
    const all = receiver.requests.map((q) => JSON.parse(q.body) as CallEvent);
    const adopted = new Set<string>();
    const seen = new Set<string>();
    for (const e of all) {
      if (!e.call_id || seen.has(e.call_id)) continue;
      seen.add(e.call_id);
      if (e.signal.reconciled) adopted.add(e.call_id);
    }
    return all.filter((e) => !e.call_id || !adopted.has(e.call_id));
  };
  return {
    get daemon() {
      return daemon;
    },
    receiver,
    proxy,
    events,
    async call(pred, what, timeoutMs = 60_000) {
      let found: CallEvent[] | undefined;
      await until(() => {
        const byCall = new Map<string, CallEvent[]>();
        for (const e of events()) if (e.call_id) byCall.set(e.call_id, [...(byCall.get(e.call_id) ?? []), e]);
        found = [...byCall.values()].find((evs) => evs.some((e) => e.event_name === 'call.reporting') && pred(evs));
        return found !== undefined;
      }, timeoutMs, what);
      return found!;
    },
    async crash() {
      daemon.proc.kill('SIGKILL');
      await daemon.exited;
    },
    async restart() {
      daemon = await spawn();
    },
    async stop() {
      await daemon.stop();
      await proxy.close();
      await receiver.close();
    },
  };
}

export { shape } from '../helpers/flows.js';

/** LIVE_RECORD=DIR: keep what callhook saw of the whole run as DIR/<name>.ami|.esl */
export function maybeRecord(ch: Callhook, name: string): void {
  const dir = process.env.LIVE_RECORD;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  ch.proxy.save(join(dir, name));
}

/**
 * One PBX for a live test file, started before its tests and stopped after them, and one
 * callhook per test (kept as a capture under LIVE_RECORD). Returns a getter for the PBX and
 * `use()`, which a test calls with its own daemon.
 */
export function livePbx(start: () => Pbx, ext: 'ami' | 'esl'): { pbx: () => Pbx; use(c: Callhook): Callhook; crash(): void; start(): void } {
  let pbx: Pbx | undefined;
  let current: Callhook | null = null;
  beforeAll(() => {
    if (LIVE.ready) pbx = start();
  });
  afterAll(() => pbx?.stop());
  afterEach(async (ctx) => {
    if (!current) return;
    maybeRecord(current, `live-${ext}-${ctx.task.name.replace(/\W+/g, '-').slice(0, 40)}.${ext}`);
    await current.stop();
    current = null;
  });
  return {
    pbx: () => pbx!,
    /** kill -9 the PBX, as a crash does */
    crash() {
      process.kill(Number(pbx!.env.PBX_PID), 'SIGKILL');
      try {
        pbx!.stop();
      } catch {
        // already gone: the stop script only cleans up
      }
    },
    /** a fresh PBX on the same ports (after crash()) */
    start() {
      pbx = start();
    },
    use(c) {
      current = c;
      return c;
    },
  };
}
