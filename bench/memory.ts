/**
 * Benchmark 5, memory. Runs in its own process with --expose-gc (memoryChild() starts it),
 * so the numbers are this tracker's and nothing else's:
 * - RSS and heap with N calls in progress (two legs each, both answered and bridged) held
 *   in the translator and the tracker;
 * - RSS after 100,000 and after 1,000,000 completed calls, to show that finished calls
 *   leave nothing behind.
 *
 * Calls are the real capture a-answered-caller-hangup (an inbound call answered by an agent)
 * with a fresh Uniqueid/Linkedid per copy. Its messages are parsed once by the real framer;
 * each copy gets cloned message objects of the messages that matter to call state, so the
 * million calls take seconds, not minutes (the framer keeps no per-call state).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CallTracker } from '../src/calls/tracker.js';
import { globMatcher } from '../src/util/glob.js';
import { AmiFramer, type AmiMessage } from '../src/pbx/ami/framer.js';
import { AmiTranslator } from '../src/pbx/ami/translator.js';
import { createDecoder } from '../src/pbx/index.js';
import { FIXTURES } from './streams.js';

/** Heap per open call when the real decoder reads the stream in `readSize` chunks. */
export interface ReadSizeResult {
  readSize: number;
  openCalls: number;
  /** heap held per open call, KiB */
  heapPerCallKiB: number;
}

export interface MemoryResult {
  openCalls: number;
  /** RSS / heap used with openCalls calls in progress, MB */
  rssOpenMb: number;
  heapOpenMb: number;
  /** the same before any call, MB */
  rssBaseMb: number;
  heapBaseMb: number;
  completedSmall: number;
  completedLarge: number;
  rssAfterSmallMb: number;
  rssAfterLargeMb: number;
  heapAfterSmallMb: number;
  heapAfterLargeMb: number;
  /** calls the tracker still holds after all completed (should be 0) */
  leftOpen: number;
  /** the same calls as raw bytes through the real decoder, at socket read sizes */
  readSizes: ReadSizeResult[];
}

const ID = /^\d{10}\./;
const ID_FIELDS = ['Uniqueid', 'Linkedid', 'DestUniqueid', 'DestLinkedid'];

/**
 * The call's messages that the translator acts on (a signal, or state such as who sent
 * BYE); the other ~80 (VarSet, Newexten, CEL, Cdr...) change nothing in it or the tracker.
 */
function template(): { open: AmiMessage[]; close: AmiMessage[] } {
  const probe = new AmiTranslator();
  const msgs = new AmiFramer()
    .push(readFileSync(`${FIXTURES}asterisk/a-answered-caller-hangup.ami`))
    .filter((m) => m.Event === 'HangupRequest' || probe.translate(m, 0).length > 0);
  const end = msgs.findIndex((m) => m.Event === 'HangupRequest' || m.Event === 'Hangup');
  return { open: msgs.slice(0, end), close: msgs.slice(end) };
}

/** The message with call `n`'s ids (its other fields are read through the prototype). */
function forCall(m: AmiMessage, n: number): AmiMessage {
  const c = Object.create(m) as AmiMessage;
  const epoch = String(1_000_000_000 + n);
  for (const f of ID_FIELDS) if (m[f] !== undefined && ID.test(m[f])) c[f] = epoch + m[f].slice(10);
  return c;
}

/**
 * `openCalls` calls held open, each the capture's raw bytes up to its first hangup with fresh
 * ids, read by the daemon's own decoder (framer + translator) in `readSize` chunks, as a
 * busy `read = all` socket hands them over. What the tracker keeps of a call must not keep
 * the whole read it came in alive.
 */
async function heapPerCall(openCalls: number, readSize: number): Promise<ReadSizeResult> {
  const text = readFileSync(`${FIXTURES}asterisk/a-answered-caller-hangup.ami`, 'latin1');
  const start = text.indexOf('Event: ');
  const opening = text.slice(start, text.indexOf('Event: HangupRequest'));
  const decoder = await createDecoder('asterisk');
  const tracker = new CallTracker({ pbx: { name: 'bench', type: 'asterisk' }, source: 'ami', isTrunk: globMatcher(['PJSIP/caller*']) });
  decoder.push(Buffer.from(text.slice(0, start), 'latin1'), 0); // banner and login reply
  const base = measure();
  let pending: Buffer[] = [];
  let size = 0;
  const flush = () => {
    const all = Buffer.concat(pending);
    for (let at = 0; at < all.length; at += readSize) for (const sig of decoder.push(all.subarray(at, at + readSize), 0)) tracker.apply(sig);
    pending = [];
    size = 0;
  };
  for (let n = 0; n < openCalls; n++) {
    const b = Buffer.from(opening.replace(/\b\d{10}\.(\d+)/g, (_, seq: string) => `${2_000_000_000 + n}.${seq}`), 'latin1');
    pending.push(b);
    size += b.length;
    if (size >= readSize * 4) flush();
  }
  flush();
  if (tracker.activeCalls !== openCalls) throw new Error(`memory bench: ${tracker.activeCalls} calls open at ${readSize} B reads, expected ${openCalls}`);
  const held = measure();
  return { readSize, openCalls, heapPerCallKiB: Math.round((((held.heap - base.heap) * 1024) / openCalls) * 10) / 10 };
}

const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;

function measure(): { rss: number; heap: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) for (let i = 0; i < 3; i++) gc();
  const u = process.memoryUsage();
  return { rss: mb(u.rss), heap: mb(u.heapUsed) };
}

export async function runMemory(openCalls: number, completedSmall: number, completedLarge: number): Promise<MemoryResult> {
  const { open, close } = template();
  const translator = new AmiTranslator();
  const tracker = new CallTracker({ pbx: { name: 'bench', type: 'asterisk' }, source: 'ami', isTrunk: globMatcher(['PJSIP/caller*']) });
  let time = Date.UTC(2026, 10, 21, 10);
  const feed = (msgs: AmiMessage[], n: number) => {
    for (const m of msgs) for (const s of translator.translate(forCall(m, n), (time += 1))) tracker.apply(s);
  };
  const base = measure();

  // calls in progress
  for (let n = 0; n < openCalls; n++) feed(open, n);
  const held = measure();
  if (tracker.activeCalls !== openCalls) throw new Error(`memory bench: ${tracker.activeCalls} calls open, expected ${openCalls}`);
  for (let n = 0; n < openCalls; n++) feed(close, n);

  // completed calls, 100 in progress at a time
  let done = openCalls;
  const completeUntil = (total: number) => {
    for (; done < total; done += 100) {
      const batch = Math.min(100, total - done);
      for (const part of [open, close]) for (let i = 0; i < batch; i++) feed(part, done + i);
    }
  };
  completeUntil(completedSmall);
  const small = measure();
  completeUntil(completedLarge);
  const large = measure();
  // last: RSS does not shrink back after these runs, so they must not come before the base
  const readSizes: ReadSizeResult[] = [];
  for (const readSize of [512, 4096, 65_536]) readSizes.push(await heapPerCall(Math.min(openCalls, 2_000), readSize));
  return {
    openCalls,
    rssOpenMb: held.rss,
    heapOpenMb: held.heap,
    rssBaseMb: base.rss,
    heapBaseMb: base.heap,
    completedSmall,
    completedLarge,
    rssAfterSmallMb: small.rss,
    rssAfterLargeMb: large.rss,
    heapAfterSmallMb: small.heap,
    heapAfterLargeMb: large.heap,
    leftOpen: tracker.activeCalls,
    readSizes,
  };
}

/** Runs runMemory in a child process with --expose-gc. */
export function memoryChild(openCalls: number, completedSmall: number, completedLarge: number): Promise<MemoryResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', self, String(openCalls), String(completedSmall), String(completedLarge)],
      { timeout: 170_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`memory bench failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as MemoryResult);
      },
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [open, small, large] = process.argv.slice(2).map(Number);
  process.stdout.write(JSON.stringify(await runMemory(open, small, large)));
}
