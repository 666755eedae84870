/**
 * Synthetic PBX event streams for the benchmarks, made from the real captures in
 * test/fixtures: each capture is copied many times with its ids rewritten per copy (so
 * every copy is a distinct call: Uniqueid/Linkedid, channel suffixes, UUIDs), and the
 * copies are interleaved message by message with a fixed number of calls in progress at
 * once, the way a busy PBX's event stream looks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AMI_EVENTS_USED, AmiTranslator } from '../src/pbx/ami/translator.js';
import { AmiFramer } from '../src/pbx/ami/framer.js';
import { CallTracker } from '../src/calls/tracker.js';
import { globMatcher } from '../src/util/glob.js';

/** trunk globs of the daemon's config in bench/e2e.ts */
export const TRUNKS = ['PJSIP/caller*', 'PJSIP/external*'];

/** How many call events a daemon makes of these frames (the same framer, translator and tracker). */
export function eventsOf(frames: Buffer[]): number {
  return emittingFrames(frames).size;
}

/**
 * Which frame makes the tracker emit each event (by event id, deterministic): usually the
 * event's own frame, but a held call.initial comes out with the frame that routes the call,
 * and events behind it in the call with it. The frame -> webhook latency is taken from there.
 */
export function emittingFrames(frames: Buffer[]): Map<string, number> {
  const framer = new AmiFramer();
  const translator = new AmiTranslator();
  const tracker = new CallTracker({ pbx: { name: 'bench', type: 'asterisk' }, source: 'ami', isTrunk: globMatcher(TRUNKS) });
  const by = new Map<string, number>();
  frames.forEach((f, i) => {
    for (const m of framer.push(f)) for (const sig of translator.translate(m, Date.now())) for (const ev of tracker.apply(sig)) by.set(ev.id, i);
  });
  return by;
}

export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

/**
 * AMI captures used: every call scenario, except the ones that are about the connection
 * rather than calls (o: Status/CoreShowChannels responses, p: PBX shutdown, which ends
 * every call, q: a failed Originate with no call).
 */
const AMI_SKIP = /^[opq]-/;

export interface SyntheticStream {
  /** one entry per message, in stream order (AMI: `Event: ...` text; ESL: whole frames) */
  frames: Buffer[];
  /** number of capture copies (distinct recorded scenarios) in the stream */
  copies: number;
  bytes: number;
}

export interface StreamOptions {
  /** stop after about this many messages */
  messages: number;
  /** capture copies in progress at once */
  concurrent?: number;
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/** Rewrites the ids of one message for copy `copy`. Keeps the byte length of UUIDs. */
function rewriteIds(text: string, copy: number): string {
  return (
    text
      // Asterisk Uniqueid / Linkedid: <epoch>.<sequence>; the sequence is unique per Asterisk run
      .replace(/\b\d{10}\.(\d+)\b/g, (_m, seq: string) => `${1_700_000_000 + copy}.${seq}`)
      // Asterisk channel suffixes: PJSIP/agent1-0000000b, Local/...-00000004;1
      .replace(/-([0-9a-f]{8})\b/g, (_m, n: string) => `-${hex8(copy * 4096 + parseInt(n, 16))}`)
      // UUIDs (Asterisk bridges, FreeSWITCH legs): same length, so Content-Length stays right
      .replace(/\b[0-9a-f]{8}(?=-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)/g, () => hex8(copy))
  );
}

/** Interleaves copies of the templates (lists of messages) round-robin, `concurrent` at a time. */
function interleave(templates: string[][], opts: StreamOptions, encoding: BufferEncoding, edit?: (msg: string, index: number) => string): SyntheticStream {
  const concurrent = opts.concurrent ?? 64;
  const frames: Buffer[] = [];
  let bytes = 0;
  let copies = 0;
  const active: Array<{ msgs: string[]; at: number; copy: number }> = [];
  const startCopy = () => {
    active.push({ msgs: templates[copies % templates.length], at: 0, copy: copies });
    copies++;
  };
  // how many copies are needed for about `messages` messages
  const perRound = templates.reduce((n, t) => n + t.length, 0) / templates.length;
  const wanted = Math.max(1, Math.ceil(opts.messages / perRound));
  while (copies < Math.min(concurrent, wanted)) startCopy();
  while (active.length > 0) {
    for (let i = 0; i < active.length; i++) {
      const a = active[i];
      let msg = rewriteIds(a.msgs[a.at++], a.copy);
      if (edit) msg = edit(msg, frames.length);
      const buf = Buffer.from(msg, encoding);
      frames.push(buf);
      bytes += buf.length;
      if (a.at === a.msgs.length) {
        active.splice(i--, 1);
        if (copies < wanted) startCopy();
      }
    }
  }
  return { frames, copies, bytes };
}

/** The event messages of each AMI capture (banner, login response and other responses dropped). */
export function amiTemplates(): string[][] {
  const dir = `${FIXTURES}asterisk/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ami') && !AMI_SKIP.test(f))
    .sort()
    .map((f) =>
      readFileSync(dir + f, 'utf8')
        .split('\r\n\r\n')
        .filter((m) => m.startsWith('Event: '))
        .map((m) => `${m}\r\n\r\n`),
    );
}

export interface AmiStreamOptions extends StreamOptions {
  /**
   * Only the events callhook reads (AMI_EVENTS_USED), as from an Asterisk whose manager user
   * is limited to them: the same calls in a fraction of the bytes (the sustained run).
   */
  lean?: boolean;
  /**
   * Adds a `Timestamp:` header (as Asterisk's timestampevents=yes does) to message i:
   * baseMs + i ms. The e2e bench uses it to find which frame a webhook came from.
   */
  timestampBaseMs?: number;
}

export function amiStream(opts: AmiStreamOptions): SyntheticStream {
  const base = opts.timestampBaseMs;
  const edit =
    base === undefined
      ? undefined
      : (msg: string, i: number) => {
          const eol = msg.indexOf('\r\n');
          return `${msg.slice(0, eol)}\r\nTimestamp: ${((base + i) / 1000).toFixed(3)}${msg.slice(eol)}`;
        };
  const templates = amiTemplates().map((t) => (opts.lean ? t.filter((m) => AMI_EVENTS_USED.has(m.slice(7, m.indexOf('\r\n')))) : t));
  return interleave(templates, opts, 'utf8', edit);
}

/** The text/event-plain frames of each FreeSWITCH plain capture, as latin1 strings (byte-exact). */
export function eslTemplates(): string[][] {
  const dir = `${FIXTURES}freeswitch/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.plain.esl'))
    .sort()
    .map((f) => {
      const bytes = readFileSync(dir + f);
      const frames: string[] = [];
      let pos = 0;
      while (pos < bytes.length) {
        const end = bytes.indexOf('\n\n', pos, 'latin1');
        if (end === -1) break;
        const head = bytes.toString('latin1', pos, end);
        const m = /^Content-Length: (\d+)$/m.exec(head);
        const stop = end + 2 + (m ? Number(m[1]) : 0);
        if (head.includes('Content-Type: text/event-plain')) frames.push(bytes.toString('latin1', pos, stop));
        pos = stop;
      }
      return frames;
    });
}

export function eslStream(opts: StreamOptions): SyntheticStream {
  return interleave(eslTemplates(), opts, 'latin1');
}

/** The frames concatenated, cut into socket-read-sized chunks (64 KiB, like a busy TCP socket). */
export function chunked(frames: Buffer[], size = 64 * 1024): Buffer[] {
  const all = Buffer.concat(frames);
  const out: Buffer[] = [];
  for (let off = 0; off < all.length; off += size) out.push(all.subarray(off, off + size));
  return out;
}
