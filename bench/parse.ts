/**
 * Benchmarks 1 and 2: parse + translate + track throughput, in-process, against the peers.
 *
 * Ours: framer -> translator -> CallTracker, exactly what a live connection runs per socket
 * read. Peers: `asterisk-manager`'s and `modesl`'s parsers, driven through the same 'data'
 * handler their socket would call (a stand-in socket object, no network), and fed the same
 * bytes in the same 64 KiB chunks. Each side gets fresh instances per pass; the median
 * pass is reported.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { CallTracker } from '../src/calls/tracker.js';
import { globMatcher } from '../src/util/glob.js';
import { AmiFramer } from '../src/pbx/ami/framer.js';
import { AmiTranslator } from '../src/pbx/ami/translator.js';
import { amiAdapter } from '../src/pbx/ami/index.js';
import { EslFramer } from '../src/pbx/esl/framer.js';
import { ESL_HEADERS_USED, EslTranslator } from '../src/pbx/esl/translator.js';
import { keepSubscribed } from '../src/pbx/esl/client.js';
import { amiStream, chunked, eslStream } from './streams.js';

const require = createRequire(import.meta.url);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ParseResult {
  /** messages in the stream */
  events: number;
  bytes: number;
  oursPerSec: number;
  peerPerSec: number;
  ratio: number;
  /** call events the tracker produced (a sanity check that the stream was understood) */
  callEvents: number;
  peer: string;
}

export interface ParseOptions {
  messages: number;
  oursPasses: number;
  peerPasses: number;
}

/** Runs `pass` once to warm up, then `n` times; the median events/s. */
async function median(n: number, events: number, pass: () => unknown): Promise<number> {
  await pass();
  const rates: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await pass();
    rates.push(events / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

function newAmiTracker(): CallTracker {
  return new CallTracker({
    pbx: { name: 'bench', type: 'asterisk' },
    source: 'ami',
    isTrunk: globMatcher(['PJSIP/caller*', 'PJSIP/external*']),
  });
}

/** Ours over the chunks: messages seen and call events produced. */
export function runOursAmi(chunks: Buffer[]): { messages: number; callEvents: number } {
  // as the daemon's AMI connection does: events the translator never reads are skipped unparsed
  const framer = new AmiFramer({ keepEvent: (name) => amiAdapter.wants(name, []) });
  const translator = new AmiTranslator();
  const tracker = newAmiTracker();
  let built = 0;
  let callEvents = 0;
  for (const chunk of chunks) {
    const now = Date.now();
    for (const m of framer.push(chunk)) {
      built++;
      for (const s of translator.translate(m, now)) callEvents += tracker.apply(s).length;
    }
  }
  // every message of the stream was read, built or skipped
  return { messages: built + framer.skipped, callEvents };
}

/**
 * asterisk-manager's reader, through a stand-in socket (its Manager makes its own socket).
 * It emits events on process.nextTick, so each chunk is followed by a turn of the event
 * loop, as it would be on a real socket.
 */
export async function runAsteriskManager(chunks: Buffer[]): Promise<number> {
  const Manager = require('asterisk-manager') as (port?: number) => {
    connect(port: number, host: string): void;
    on(ev: string, fn: (...a: unknown[]) => void): void;
  };
  const socket = Object.assign(new EventEmitter(), {
    readyState: 'open',
    setKeepAlive() {},
    setNoDelay() {},
    setEncoding() {},
  });
  const real = net.createConnection;
  (net as { createConnection: unknown }).createConnection = () => socket;
  const mgr = Manager();
  try {
    mgr.connect(5038, '127.0.0.1');
  } finally {
    (net as { createConnection: unknown }).createConnection = real;
  }
  let events = 0;
  mgr.on('managerevent', () => events++);
  for (const chunk of chunks) {
    socket.emit('data', chunk);
    await turn();
  }
  return events;
}

export async function benchAmi(opts: ParseOptions): Promise<ParseResult> {
  const stream = amiStream({ messages: opts.messages });
  const chunks = chunked(stream.frames);
  const events = stream.frames.length;
  const ours = runOursAmi(chunks);
  const peerCount = await runAsteriskManager(chunks);
  if (ours.messages !== events || peerCount !== events) {
    throw new Error(`AMI bench: stream has ${events} messages, ours saw ${ours.messages}, asterisk-manager ${peerCount}`);
  }
  const oursPerSec = await median(opts.oursPasses, events, () => runOursAmi(chunks));
  const peerPerSec = await median(opts.peerPasses, events, () => runAsteriskManager(chunks));
  return { events, bytes: stream.bytes, oursPerSec, peerPerSec, ratio: oursPerSec / peerPerSec, callEvents: ours.callEvents, peer: 'asterisk-manager' };
}

// ---- ESL ------------------------------------------------------------------------------

// the ESL adapter exists now: import it directly
export function runOursEsl(chunks: Buffer[]): { messages: number; callEvents: number } {
  // as a live connection: only the subscribed events are decoded (the captures hold `event plain ALL`)
  const framer = new EslFramer({ keepEvent: keepSubscribed, keepHeaders: ESL_HEADERS_USED });
  const translator = new EslTranslator({ pbxName: 'bench' });
  const tracker = new CallTracker({
    pbx: { name: 'bench', type: 'freeswitch' },
    source: 'esl',
    isTrunk: globMatcher(['sofia/external/*', 'sofia/gateway/*']),
  });
  let messages = 0;
  let callEvents = 0;
  for (const chunk of chunks) {
    const now = Date.now();
    for (const m of framer.push(chunk)) {
      messages++;
      if (m.event) for (const s of translator.translate(m.event, now)) callEvents += tracker.apply(s).length;
    }
  }
  return { messages, callEvents };
}

/** modesl's Parser over a stand-in socket (it only listens to 'data' and 'end'). */
export function runModesl(chunks: Buffer[]): number {
  const Parser = require('modesl/lib/esl/Parser.js') as new (socket: EventEmitter) => EventEmitter;
  const socket = new EventEmitter();
  const parser = new Parser(socket);
  let events = 0;
  parser.on('esl::event', () => events++);
  for (const chunk of chunks) socket.emit('data', chunk);
  return events;
}

export async function benchEsl(opts: ParseOptions): Promise<ParseResult | null> {
  const stream = eslStream({ messages: opts.messages });
  const chunks = chunked(stream.frames);
  const events = stream.frames.length;
  const ours = runOursEsl(chunks);
  const peerCount = runModesl(chunks);
  if (ours.messages !== events || peerCount !== events) {
    throw new Error(`ESL bench: stream has ${events} messages, ours saw ${ours.messages}, modesl ${peerCount}`);
  }
  const oursPerSec = await median(opts.oursPasses, events, () => runOursEsl(chunks));
  const peerPerSec = await median(opts.peerPasses, events, () => runModesl(chunks));
  return { events, bytes: stream.bytes, oursPerSec, peerPerSec, ratio: oursPerSec / peerPerSec, callEvents: ours.callEvents, peer: 'modesl' };
}
