/**
 * The hostile-input run: N fuzzed AMI and ESL frames (real frames from the live captures,
 * mutated: random ids so every frame may open a call, absurd and garbled timestamps, cut
 * frames, garbage lines, oversized values and lines) through the daemon's own decoders and
 * trackers, in random socket-read sizes up to 64 KiB, with the daemon's clock ticking so
 * that orphaned legs are closed as the daemon would. Prints frames, errors, peak RSS and what
 * is still open; exits 1 if anything threw or the peak RSS passed the limit.
 *
 *   node --max-old-space-size=256 dist/bench/fuzz.js [frames=1000000] [rssLimitMb=400]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CallTracker } from '../src/calls/tracker.js';
import type { PbxType } from '../src/calls/signals.js';
import { createDecoder } from '../src/pbx/index.js';

export interface FuzzResult {
  frames: number;
  bytes: number;
  threw: number;
  events: number;
  peakRssMb: number;
  openCalls: number;
  seconds: number;
}

/** xorshift32: the same run every time */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const LIVE = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

function frames(type: PbxType): string[] {
  const dir = `${LIVE}${type}/live/`;
  const out: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith(type === 'asterisk' ? '.ami' : '.esl'))) {
    const text = readFileSync(dir + f, 'latin1');
    if (type === 'asterisk') out.push(...text.split('\r\n\r\n').filter((b) => b.startsWith('Event: ')).map((b) => `${b}\r\n\r\n`));
    else out.push(...text.split(/(?=Content-Length: \d+\nContent-Type: text\/event-json\n\n)/).filter((b) => b.includes('text/event-json')));
  }
  return out;
}

function mutate(frame: string, type: PbxType, r: () => number, n: number): string {
  const p = r();
  if (p < 0.3) {
    // a new call: fresh ids
    const id = `${1_800_000_000 + (n % 200_000)}`;
    frame = type === 'asterisk' ? frame.replace(/\b\d{10}\.(\d+)/g, `${id}.$1`) : frame.replace(/[0-9a-f]{8}-[0-9a-f]{4}/g, `${id.slice(2)}-${(n % 9999).toString().padStart(4, '0')}`);
  } else if (p < 0.4) {
    frame = frame.replace(/(Timestamp: |"Event-Date-Timestamp":")[0-9.]+/, `$1${['10000000000000', '-1', 'NaN', '1e400', '', '99999999999999999999'][n % 6]}`);
  } else if (p < 0.45) {
    frame = frame.slice(0, Math.floor(r() * frame.length)); // cut short
  } else if (p < 0.5) {
    frame = `${'garbage without a colon '.repeat(1 + (n % 5))}\r\n${frame}`;
  } else if (p < 0.501) {
    frame = frame.replace(/(CallerIDName: |"Caller-Caller-ID-Name":")/, `$1${'X'.repeat(100_000)}`); // oversized value
  } else if (p < 0.502) {
    frame = `${'Y'.repeat(300_000)}\r\n\r\n${frame}`; // an oversized line
  }
  if (type === 'freeswitch') {
    // keep Content-Length honest for the body we now send (or not: a few lie)
    const at = frame.indexOf('\n\n');
    const body = at >= 0 ? frame.slice(at + 2) : '';
    if (r() > 0.02 && at >= 0) frame = frame.replace(/^Content-Length: \d+/, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  }
  return frame;
}

export async function runFuzz(total: number, seed = 42): Promise<FuzzResult> {
  const started = Date.now();
  const r = rng(seed);
  let threw = 0;
  let events = 0;
  let bytes = 0;
  let clock = 1_800_000_000_000;
  let openCalls = 0;
  for (const type of ['asterisk', 'freeswitch'] as const) {
    const source = frames(type);
    const decoder = await createDecoder(type);
    const tracker = new CallTracker({ pbx: { name: 'fuzz', type }, source: type === 'asterisk' ? 'ami' : 'esl', orphanTimeoutMs: 60_000 });
    const greeting = type === 'asterisk' ? 'Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n' : 'Content-Type: auth/request\n\n';
    decoder.push(Buffer.from(greeting, 'latin1'), clock);
    let pending: string[] = [];
    let size = 0;
    const feed = () => {
      const all = Buffer.from(pending.join(''), 'latin1');
      bytes += all.length;
      for (let at = 0; at < all.length; ) {
        const len = 1 + Math.floor(r() * 65_536);
        try {
          for (const sig of decoder.push(all.subarray(at, at + len), clock)) events += tracker.apply(sig).length;
        } catch {
          threw++;
        }
        at += len;
      }
      pending = [];
      size = 0;
    };
    const half = Math.floor(total / 2);
    for (let n = 0; n < half; n++) {
      const f = mutate(source[Math.floor(r() * source.length)], type, r, n);
      pending.push(f);
      size += f.length;
      if (size > 256 * 1024) feed();
      if (n % 10_000 === 0) {
        clock += 60_000; // a minute of daemon time per 10,000 frames
        try {
          events += tracker.apply({ kind: 'tick', time: clock, pbxEvent: 'tick' }).length;
        } catch {
          threw++;
        }
      }
    }
    feed();
    openCalls += tracker.activeCalls;
  }
  return {
    frames: total,
    bytes,
    threw,
    events,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    openCalls,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const total = Number(process.argv[2] ?? 1_000_000);
  const limit = Number(process.argv[3] ?? 400);
  const res = await runFuzz(total);
  process.stdout.write(`${JSON.stringify({ ...res, rssLimitMb: limit })}\n`);
  process.exit(res.threw === 0 && res.peakRssMb <= limit ? 0 : 1);
}
