/**
 * The FreeSWITCH side of `callhook demo`: an ESL endpoint on 127.0.0.1 that replays the
 * bundled real FreeSWITCH captures (demo/captures/freeswitch/*.json.esl, with their
 * *.json.ts.json recv() timing) one call after another at their recorded pace, sped up.
 * The demo points a `type: freeswitch` PBX entry at it (see freeswitchDemoPbxYaml).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCapture } from '../pbx/capture.js';
import { startEslReplayServer, type EslCapture } from './esl-replay-server.js';

export interface FreeswitchDemoReplay {
  /** 127.0.0.1 port of the ESL endpoint */
  port: number;
  /** the ESL password it accepts (random per run) */
  password: string;
  /** scenario names replayed, in order (file names without .json.esl) */
  scenarios: string[];
  /** resolves when every event of every capture has been written to the daemon */
  done: Promise<void>;
  close(): Promise<void>;
}

export interface FreeswitchDemoOptions {
  /** recorded pace speed-up factor (default 1) */
  speed?: number;
  /** directory of the captures (default: the package's demo/captures/freeswitch) */
  dir?: string;
  /** pause between two calls, ms of recorded time (default 1000) */
  gapMs?: number;
}

/** The captures' caller (sipp UAC) and the originate's far end play the outside world. */
export const FREESWITCH_DEMO_TRUNKS = ['sofia/internal/1555*', 'sofia/internal/999*'];

/** demo/captures/freeswitch of this package, from src/ (vitest, tsx) or dist/src/ (built). */
export function freeswitchDemoCaptureDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'demo', 'captures', 'freeswitch');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('demo/captures/freeswitch not found next to the callhook package');
}

export async function startFreeswitchDemoReplay(opts: FreeswitchDemoOptions = {}): Promise<FreeswitchDemoReplay> {
  const dir = opts.dir ?? freeswitchDemoCaptureDir();
  const gap = opts.gapMs ?? 1000;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json.esl')).sort();
  if (files.length === 0) throw new Error(`no FreeSWITCH captures (*.json.esl) in ${dir}`);
  // one call after another: each capture's recv() times are shifted past the previous one's end
  const captures: EslCapture[] = [];
  let offset = 0;
  for (const f of files) {
    const { bytes, chunks } = readCapture(join(dir, f));
    const t0 = chunks?.[0]?.t ?? 0;
    const shifted = (chunks ?? [{ t: t0, offset: 0, len: bytes.length }]).map((c) => ({
      offset: c.offset,
      length: c.len,
      rel_ms: offset + Math.round((c.t - t0) * 1000),
    }));
    captures.push({ bytes, chunks: shifted });
    offset = shifted[shifted.length - 1].rel_ms + gap;
  }
  const password = `demo-${randomBytes(9).toString('base64url')}`;
  const server = await startEslReplayServer({ captures, password, pace: 'recorded', speed: opts.speed ?? 1 });
  return {
    port: server.port,
    password,
    scenarios: files.map((f) => f.replace(/\.json\.esl$/, '')),
    done: server.done,
    close: () => server.close(),
  };
}

/** The `pbx:` list entry (YAML lines, two-space indented) for a daemon to use this replay. */
export function freeswitchDemoPbxYaml(replay: Pick<FreeswitchDemoReplay, 'port' | 'password'>, name = 'demo-freeswitch'): string[] {
  return [
    `  - name: ${name}`,
    '    type: freeswitch',
    '    host: 127.0.0.1',
    `    port: ${replay.port}`,
    `    secret: ${replay.password}`,
    '    event_format: json',
    `    trunks: ${JSON.stringify(FREESWITCH_DEMO_TRUNKS)}   # the captures' callers play the outside world`,
  ];
}
