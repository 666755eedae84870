/**
 * The world around the daemon for the end-to-end benchmarks, run as a child process so it
 * does not share the daemon's event loop: a fake Asterisk (AMI on 127.0.0.1) that streams a
 * synthetic event stream to whoever logs in, and a node:http webhook receiver on 127.0.0.1
 * that counts what arrives. Both use one clock (performance.now()), so the latency from a
 * frame leaving the fake PBX to its webhook arriving is exact. The frame is the one whose
 * processing emits the event (found by running the stream through the tracker here, by
 * event id): usually the event's own frame, which carries `Timestamp: base + i ms` (the
 * webhook's `event_time`), but a call.initial the tracker holds until the call is routed
 * comes out with a later frame. Both latencies are kept: from the emitting frame (what the
 * delivery path adds) and from the event's own frame (with the tracker's deliberate holds).
 *
 * Driven over IPC by bench/e2e.ts: {cmd: 'load', ...} -> {loaded}; the next AMI login gets
 * the stream; {cmd: 'stats'} -> {stats}; {cmd: 'reset'} clears the receiver's counters.
 */
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AmiFramer, formatAction } from '../src/pbx/ami/framer.js';
import { amiStream, emittingFrames } from './streams.js';

export type WorldCommand =
  | { cmd: 'load'; messages: number; timestampBaseMs: number; rate: number | null; lean?: boolean }
  | { cmd: 'stats'; latencies?: boolean }
  | { cmd: 'reset' }
  | { cmd: 'exit' };

export interface WorldStats {
  received: number;
  bodyBytes: number;
  firstAt: number | null;
  lastAt: number | null;
  sendStart: number | null;
  sendEnd: number | null;
  /** ms from the emitting frame sent to the webhook received, one per webhook (paced streams only) */
  latencies: number[];
  /** ms from the event's own frame (event_time) sent to the webhook received */
  ownFrameLatencies: number[];
}

interface Loaded {
  frames: Buffer[];
  base: number;
  rate: number | null;
  sentAt: Float64Array;
  /** event id -> index of the frame that makes the tracker emit it */
  emittedBy: Map<string, number>;
}

let loaded: Loaded | null = null;
const stats: WorldStats = { received: 0, bodyBytes: 0, firstAt: null, lastAt: null, sendStart: null, sendEnd: null, latencies: [], ownFrameLatencies: [] };

function reset(): void {
  Object.assign(stats, { received: 0, bodyBytes: 0, firstAt: null, lastAt: null, latencies: [], ownFrameLatencies: [] });
}

// ---- the webhook receiver ---------------------------------------------------------------

const receiver = createHttpServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = performance.now();
    stats.received++;
    stats.firstAt ??= now;
    stats.lastAt = now;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    stats.bodyBytes += body.length;
    const l = loaded;
    if (l && l.rate !== null && req.url?.startsWith('/hook')) {
      const text = body.toString('latin1');
      const m = /"event_time":"([^"]+)"/.exec(text);
      const own = m ? Date.parse(m[1]) - l.base : -1;
      const emitted = l.emittedBy.get(/"id":"([^"]+)"/.exec(text)?.[1] ?? '') ?? own;
      if (own >= 0 && own < l.sentAt.length && l.sentAt[own] > 0) stats.ownFrameLatencies.push(now - l.sentAt[own]);
      if (emitted >= 0 && emitted < l.sentAt.length && l.sentAt[emitted] > 0) stats.latencies.push(now - l.sentAt[emitted]);
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
  });
});

// ---- the fake PBX -------------------------------------------------------------------------

const ami = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.write('Asterisk Call Manager/13.0.0\r\n');
  const framer = new AmiFramer();
  socket.on('data', (chunk: Buffer) => {
    for (const m of framer.push(chunk)) {
      const id = m.ActionID;
      switch (m.Action?.toLowerCase()) {
        case 'login':
          socket.write(formatAction({ Response: 'Success', ActionID: id, Message: 'Authentication accepted' }));
          break;
        case 'coreshowchannels':
          socket.write(formatAction({ Response: 'Success', ActionID: id, EventList: 'start', Message: 'Channels will follow' }));
          socket.write(formatAction({ Event: 'CoreShowChannelsComplete', ActionID: id, EventList: 'Complete', ListItems: '0' }));
          // the stream starts once the client has its (empty) channel list
          setTimeout(() => stream(socket), 100);
          break;
        case 'ping':
          socket.write(formatAction({ Response: 'Success', ActionID: id, Ping: 'Pong' }));
          break;
        case 'logoff':
          socket.end(formatAction({ Response: 'Goodbye', ActionID: id }));
          break;
        default:
          socket.write(formatAction({ Response: 'Error', ActionID: id, Message: 'Invalid/unknown command' }));
      }
    }
  });
});

function stream(socket: net.Socket): void {
  const l = loaded;
  if (!l || socket.destroyed) return;
  stats.sendStart = performance.now();
  stats.sendEnd = null;
  if (l.rate === null) blast(socket, l);
  else paced(socket, l, l.rate);
}

/** as fast as the socket takes it, in 64 KiB writes */
function blast(socket: net.Socket, l: Loaded): void {
  const all = Buffer.concat(l.frames);
  let off = 0;
  const write = () => {
    while (off < all.length && !socket.destroyed) {
      const piece = all.subarray(off, off + 64 * 1024);
      off += piece.length;
      if (!socket.write(piece)) {
        socket.once('drain', write);
        return;
      }
    }
    stats.sendEnd = performance.now();
  };
  write();
}

/** frame i is due at start + i / rate s; every frame due is written at once, with its send time */
function paced(socket: net.Socket, l: Loaded, rate: number): void {
  const start = performance.now();
  let i = 0;
  const tick = () => {
    const due = Math.min(l.frames.length, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; i < due && !socket.destroyed; i++) {
      l.sentAt[i] = performance.now();
      socket.write(l.frames[i]);
    }
    if (i < l.frames.length && !socket.destroyed) setTimeout(tick, 1);
    else stats.sendEnd = performance.now();
  };
  tick();
}

// ---- IPC ------------------------------------------------------------------------------------

function send(msg: unknown): void {
  process.send?.(msg);
}

process.on('message', (msg: WorldCommand) => {
  switch (msg.cmd) {
    case 'load': {
      const s = amiStream({ messages: msg.messages, timestampBaseMs: msg.timestampBaseMs, lean: msg.lean });
      const emittedBy = emittingFrames(s.frames);
      loaded = { frames: s.frames, base: msg.timestampBaseMs, rate: msg.rate, sentAt: new Float64Array(s.frames.length), emittedBy };
      reset();
      stats.sendStart = null;
      stats.sendEnd = null;
      // counted here, so the daemon's process never holds the stream
      send({ type: 'loaded', frames: s.frames.length, events: emittedBy.size });
      break;
    }
    case 'stats':
      // the latencies only when asked: the progress polls stay small
      send({ type: 'stats', stats: { ...stats, latencies: msg.latencies ? stats.latencies : [], ownFrameLatencies: msg.latencies ? stats.ownFrameLatencies : [] } });
      break;
    case 'reset':
      reset();
      send({ type: 'reset' });
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

receiver.keepAliveTimeout = 30_000;
receiver.listen(0, '127.0.0.1', () => {
  ami.listen(0, '127.0.0.1', () => {
    send({ type: 'ready', httpPort: (receiver.address() as AddressInfo).port, amiPort: (ami.address() as AddressInfo).port });
  });
});
