/**
 * `callhook demo`: the whole pipeline on a machine with no PBX. An AMI endpoint inside
 * this process replays bundled real captures at their recorded pace (sped up), a webhook
 * receiver listens on 127.0.0.1, and the real daemon (config file, durable outbox,
 * dispatcher, signing) runs between them. It prints the PBX connection, each call as it
 * starts, every webhook attempt as `call.connected  LOCAL_USER  → 200 in   3 ms  agent1`,
 * a summary, and where to go next. Under a minute at the default speed.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { CallEvent } from '../calls/events.js';
import { Daemon } from '../daemon.js';
import { verifySignature } from '../delivery/signing.js';
import { readCapture } from '../pbx/capture.js';
import { startAmiReplayServer } from './ami-replay-server.js';
import { freeswitchDemoCaptureDir, freeswitchDemoPbxYaml, startFreeswitchDemoReplay, type FreeswitchDemoReplay } from './freeswitch-replay.js';

export interface DemoOptions {
  pbx: 'asterisk' | 'freeswitch' | 'both';
  speed: number;
  out?: NodeJS.WritableStream;
}

const CAPTURES = fileURLToPath(new URL('../../../demo/captures/', import.meta.url));
const SECRET = 'demo-secret';
const SIGNING_SECRET = 'whsec_ZGVtby1zaWduaW5nLXNlY3JldC0xMjM0NTY=';

/** What each bundled capture is (the SIP scenario recorded; see the captures' README). */
const SCENARIOS: Record<string, string> = {
  'a-answered-caller-hangup': 'inbound call to agent1, answered, the caller hangs up',
  'b-answered-agent-hangup': 'inbound call to agent1, answered, the agent hangs up',
  'c-no-answer-dial-timeout': 'inbound call, agent1 rings and never answers: missed',
  'd-agent-busy-486': 'inbound call, agent1 is busy (486): missed',
  'e-caller-cancel-while-ringing': 'the caller gives up while agent1 rings: missed',
  'f-hold-unhold': 'answered call put on hold and resumed',
  'g-dtmf-info-midcall': 'answered call, the caller presses 1 2 #',
  'h-queue-answered': 'caller waits in queue "support", agent1 answers, agent2 stops ringing',
  'i-queue-abandoned': 'caller hangs up in queue "support" while agents ring: abandoned',
  'j-queue-timeout': 'nobody answers queue "support" before its timeout',
  // FreeSWITCH captures
  'a-answered-caller-bye': 'inbound call to agent1, answered, the caller hangs up',
  'c-ring-no-answer-timeout': 'inbound call, agent1 rings and never answers: missed',
  'g-dtmf-info': 'answered call, the caller presses digits',
  'freeswitch:h-queue-answered': 'caller waits in queue "support" (mod_callcenter), agent2 answers',
  'freeswitch:i-queue-abandoned': 'caller hangs up in queue "support" while an agent rings: abandoned',
};

/** The call id (Linkedid) of the first channel in an AMI capture. */
function firstLinkedid(bytes: Buffer): string | null {
  const m = /\r?\nLinkedid: ([^\r\n]+)/.exec(bytes.toString('latin1'));
  return m ? m[1] : null;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const say = (s: string) => out.write(`${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'callhook-demo-'));
  const received = { total: 0, badSignature: 0 };
  /** one body to show in full at the end: an agent answering a queue call, the richest one */
  let shown: { body: string; score: number } | null = null;
  const receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.total++;
      const h = (k: string) => String(req.headers[k] ?? '');
      const ok = verifySignature(SIGNING_SECRET, h('webhook-id'), h('webhook-timestamp'), body, h('webhook-signature'));
      if (!ok) received.badSignature++;
      try {
        const ev = JSON.parse(body) as CallEvent;
        const score = (ev.event_name === 'call.connected' ? 2 : 0) + (ev.context === 'LOCAL_USER' ? 1 : 0) + (ev.queue ? 1 : 0);
        if (!shown || score > shown.score) shown = { body, score };
      } catch {
        /* not ours to judge: the signature check above counts it */
      }
      res.writeHead(ok ? 200 : 401).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverPort = (receiver.address() as AddressInfo).port;

  const useAsterisk = opts.pbx !== 'freeswitch';
  const useFreeswitch = opts.pbx !== 'asterisk';
  const astDir = join(CAPTURES, 'asterisk');
  const files = useAsterisk ? readdirSync(astDir).filter((f) => f.endsWith('.ami')).sort() : [];
  const fsCalls = useFreeswitch ? readdirSync(freeswitchDemoCaptureDir()).filter((f) => f.endsWith('.json.esl')).length : 0;
  const totalCalls = files.length + fsCalls;
  const captures = files.map((f) => readCapture(join(astDir, f)));
  /** call id -> capture name of the Asterisk calls being replayed */
  const scenarioOf = new Map<string, string>();
  files.forEach((f, i) => {
    const id = firstLinkedid(captures[i].bytes);
    if (id) scenarioOf.set(id, f.replace(/\.ami$/, ''));
  });
  const ami = useAsterisk
    ? await startAmiReplayServer({
        captures: captures.map((c) => ({ bytes: c.bytes, chunks: c.chunks ?? undefined })),
        username: 'callhook',
        secret: SECRET,
        pace: 'recorded',
        speed: opts.speed,
      })
    : null;
  let fs: FreeswitchDemoReplay | null = null;
  let fsSeen = 0;

  const configPath = join(dir, 'callhook.yaml');
  const writeDemoConfig = () =>
    writeFileSync(
      configPath,
      [
        'pbx:',
        ...(ami
          ? [
              '  - name: demo-asterisk',
              '    type: asterisk',
              '    host: 127.0.0.1',
              `    port: ${ami.port}`,
              '    username: callhook',
              `    secret: ${SECRET}`,
              "    trunks: [\"PJSIP/caller*\"]   # the captures' callers play the outside world",
            ]
          : []),
        ...(fs ? freeswitchDemoPbxYaml(fs) : []),
        'webhooks:',
        '  - name: demo-crm',
        `    url: http://127.0.0.1:${receiverPort}/hooks/calls`,
        '    events: ["*"]',
        `    signing_secret: ${SIGNING_SECRET}`,
        `storage: {path: ${JSON.stringify(join(dir, 'store'))}}`,
        'http: {listen: off}',
        'log: {level: warn}',
        '',
      ].join('\n'),
    );
  if (!ami) fs = await startFreeswitchDemoReplay({ speed: opts.speed });
  writeDemoConfig();

  const what = [files.length ? `${files.length} Asterisk` : '', fsCalls ? `${fsCalls} FreeSWITCH` : ''].filter(Boolean).join(' + ');
  say(`callhook demo: ${what} real calls, recorded from SIP calls through real PBXes, replayed at ${opts.speed}x`);
  if (ami) say(`  PBX       an AMI endpoint on 127.0.0.1:${ami.port} replaying the recorded Asterisk bytes`);
  if (useFreeswitch) say(`  PBX       an ESL endpoint on 127.0.0.1 replaying the recorded FreeSWITCH bytes${ami ? ' (after the Asterisk calls)' : ''}`);
  say(`  webhook   a receiver on http://127.0.0.1:${receiverPort}/hooks/calls checking every signature`);
  say(`  config    ${configPath}`);
  say('');

  const events = new Map<string, CallEvent>();
  const counts = { events: 0, calls: new Set<string>(), ok: 0, failed: 0 };
  const daemon = await Daemon.start({
    configPath,
    logger: pino({ level: 'warn' }, pino.destination(2)),
    onEvent: (ev) => {
      counts.events++;
      if (ev.call_id && !counts.calls.has(ev.call_id)) {
        counts.calls.add(ev.call_id);
        const name = ev.pbx.type === 'asterisk' ? (scenarioOf.get(ev.call_id) ?? '') : (fs?.scenarios[fsSeen++] ?? '');
        say('');
        say(`call ${counts.calls.size}/${totalCalls}  ${SCENARIOS[`${ev.pbx.type}:${name}`] ?? SCENARIOS[name] ?? name}  (${ev.pbx.name}: ${name}, call_id ${ev.call_id})`);
      }
      events.set(ev.id, ev);
    },
    onAttempt: (r) => {
      const ev = events.get(r.eventId);
      if (r.ok) counts.ok++;
      else counts.failed++;
      const who = ev?.endpoint?.replace(/^PJSIP\/|^sofia\/[^/]+\//, '') ?? ev?.queue?.name ?? '';
      const status = r.status ?? r.error ?? 'error';
      // the one column of any length last, so the columns stay aligned
      say(`  ${r.eventName.padEnd(15)} ${(ev?.context ?? '').padEnd(11)} → ${String(status).padEnd(3)} in ${String(r.ms).padStart(3)} ms  ${who}`);
      if (ev && r.ok) events.delete(r.eventId);
    },
  });
  const connectedAt = Date.now();
  const waitConnected = async (name: string, what: string) => {
    const conn = daemon.connections.get(name);
    const since = Date.now();
    while (conn && !conn.stats().connected && Date.now() - since < 5000) await new Promise((r) => setTimeout(r, 20));
    say(conn?.stats().connected ? `connected to PBX ${name} (${what})` : `PBX ${name}: not connected yet`);
  };
  const drain = async () => {
    const deadline = Date.now() + 10_000;
    while (daemon.dispatcher.stats().pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  if (ami) {
    await waitConnected('demo-asterisk', `Asterisk AMI 127.0.0.1:${ami.port}, user callhook`);
    await ami.done;
    await drain();
  }
  if (useFreeswitch) {
    if (ami) {
      // the FreeSWITCH part joins a running daemon the way an operator adds a PBX: edit the file, reload
      fs = await startFreeswitchDemoReplay({ speed: opts.speed });
      writeDemoConfig();
      say('');
      say(`config edited (+ pbx demo-freeswitch) and reloaded: ${(await daemon.reload()) ? 'ok' : 'FAILED'}`);
    }
    await waitConnected('demo-freeswitch', `FreeSWITCH ESL 127.0.0.1:${fs!.port}`);
    await fs!.done;
    await drain();
  }
  const stats = daemon.dispatcher.stats();
  await daemon.stop();
  await ami?.close();
  await fs?.close();
  await new Promise<void>((r) => receiver.close(() => r()));
  rmSync(dir, { recursive: true, force: true });

  say('');
  say(`summary: ${counts.calls.size} calls, ${counts.events} events, ${counts.ok} webhooks delivered, ${counts.failed} failed attempts, ` +
    `${stats.pending} pending; the receiver got ${received.total} requests (${received.badSignature} bad signatures) in ${((Date.now() - connectedAt) / 1000).toFixed(1)} s`);
  const full = shown as { body: string } | null;
  if (full) {
    const ev = JSON.parse(full.body) as CallEvent;
    say('');
    say(`one webhook body in full (${ev.event_name}, ${ev.context}, call_id ${ev.call_id}); every field: docs/events.md`);
    say(JSON.stringify(ev, null, 2).replace(/^/gm, '  '));
  }
  say('');
  say('contexts:');
  say('  LOCAL_USER  one local endpoint\'s leg (an agent\'s phone): INITIAL → RINGING → CONNECTED ⇄ ON_HOLD → HANGUP');
  say('  QUEUE       the caller\'s stay in a queue, from joining it to leaving it (answered, abandoned or timed out)');
  say('  CALL        the whole call: DTMF digits, transfers, and call.reporting once it is over');
  say('');
  say('next:');
  say('  config    config/callhook.example.yaml: every setting, commented (copy it to /etc/callhook/callhook.yaml)');
  say('  install   docs/operations.md: the systemd service, the Asterisk manager.conf / FreeSWITCH event socket,');
  say('            your first real webhook, tailing logs, reload, /healthz and /metrics');
  return counts.failed === 0 && received.badSignature === 0 && stats.pending === 0 ? 0 : 1;
}
