/**
 * A fake Asterisk Manager Interface server that replays recorded AMI captures (the raw
 * bytes of test/fixtures/asterisk/*.ami) to whoever logs in: `callhook demo` uses it as
 * the PBX on a machine without one, and the tests use it to drive the real AMI client over
 * real TCP. It listens on 127.0.0.1 only.
 *
 * It speaks enough AMI for our client: the banner, Login (a wrong username/secret gets
 * `Response: Error / Message: Authentication failed` and the connection closed), Ping,
 * CoreShowChannels (an event list of the channels live at that point of the replay: seen in
 * a Newchannel already sent, no Hangup yet), Logoff; any other action gets
 * `Response: Error / Message: Invalid/unknown command`.
 *
 * The captures' bytes are streamed unchanged, except each capture's own banner line and its
 * own login response (the first message). Pace 'recorded' keeps the recv() chunking and
 * timing of the .json sidecar (divided by speed); 'instant' writes as fast as the socket
 * drains. Our own responses are only ever written between two messages of the stream.
 *
 * The stream has one position shared by all logged-in clients. dropClients() cuts every
 * connection; the next client that logs in gets the stream from the first message not yet
 * completely sent, so a call can span an outage. pause()/resume() stop and continue it.
 */
import net from 'node:net';
import { AmiFramer, formatAction, type AmiMessage } from '../pbx/ami/framer.js';

export interface ReplayChunk {
  /** Unix time in seconds (float) when this chunk was received */
  t: number;
  offset: number;
  len: number;
}

export interface ReplayCapture {
  bytes: Buffer;
  /** the .json sidecar's `chunks`; needed for pace 'recorded' */
  chunks?: ReplayChunk[];
}

export interface AmiReplayServerOptions {
  captures: ReplayCapture[];
  /** when set, Login must carry this Username */
  username?: string;
  secret: string;
  pace: 'instant' | 'recorded';
  /** with pace 'recorded': 2 = twice as fast; default 1 */
  speed?: number;
  host?: '127.0.0.1';
  /** 0 (default) = a free port */
  port?: number;
  /** start again with the first capture after the last one */
  loop?: boolean;
}

export interface AmiReplayServer {
  port: number;
  close(): Promise<void>;
  /** destroy the current connections; the stream continues for the next client */
  dropClients(): void;
  pause(): void;
  resume(): void;
  /** resolves once every capture has been sent completely (the first pass, with loop) */
  done: Promise<void>;
  /** channel names live at the current point of the stream */
  liveChannels(): string[];
}

interface Segment {
  start: number;
  end: number;
  msgs: AmiMessage[];
}

interface Piece {
  start: number;
  end: number;
  delayMs: number;
}

interface Prepared {
  bytes: Buffer;
  start: number;
  segments: Segment[];
  pieces: Piece[];
}

interface Client {
  socket: net.Socket;
  framer: AmiFramer;
  loggedIn: boolean;
}

interface LiveChannel {
  fields: Record<string, string>;
  since: number;
}

const DEFAULT_BANNER = 'Asterisk Call Manager/13.0.0';
const INSTANT_PIECE_BYTES = 64 * 1024;
/** pieces written per event-loop turn with pace 'instant', so actions still get answered */
const INSTANT_PIECES_PER_TURN = 16;
const CHANNEL_FIELDS = [
  'Channel',
  'ChannelState',
  'ChannelStateDesc',
  'CallerIDNum',
  'CallerIDName',
  'ConnectedLineNum',
  'ConnectedLineName',
  'Language',
  'AccountCode',
  'Context',
  'Exten',
  'Priority',
  'Uniqueid',
  'Linkedid',
] as const;

/** Byte ranges of the messages in `bytes` from `from`: each ends after its empty line. */
function segmentMessages(bytes: Buffer, from: number): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  let start = from;
  let pos = from;
  let hasContent = false;
  while (pos < bytes.length) {
    const nl = bytes.indexOf(10, pos);
    if (nl === -1) break;
    const empty = nl === pos || (nl === pos + 1 && bytes[pos] === 13);
    pos = nl + 1;
    if (!empty) hasContent = true;
    else if (hasContent) {
      out.push({ start, end: pos });
      start = pos;
      hasContent = false;
    }
  }
  if (start < bytes.length) out.push({ start, end: bytes.length }); // an unterminated tail
  return out;
}

function prepare(capture: ReplayCapture, pace: 'instant' | 'recorded', speed: number): Prepared & { banner: string | null } {
  const { bytes } = capture;
  let start = 0;
  let banner: string | null = null;
  const firstNl = bytes.indexOf(10);
  if (firstNl !== -1) {
    const first = bytes.subarray(0, firstNl).toString('utf8').replace(/\r$/, '');
    if (first.length > 0 && !first.includes(':')) {
      banner = first;
      start = firstNl + 1;
    }
  }
  let ranges = segmentMessages(bytes, start);
  if (ranges.length > 0 && bytes.subarray(ranges[0].start, ranges[0].start + 10).toString('latin1') === 'Response: ') {
    // the capture's own login response
    start = ranges[0].end;
    ranges = ranges.slice(1);
  }
  const framer = new AmiFramer();
  const segments = ranges.map((r) => ({ ...r, msgs: framer.push(bytes.subarray(r.start, r.end)) }));

  const pieces: Piece[] = [];
  if (pace === 'recorded' && capture.chunks && capture.chunks.length > 0) {
    let prevT: number | null = null;
    for (const c of capture.chunks) {
      const end = Math.min(c.offset + c.len, bytes.length);
      if (end <= start) {
        prevT = c.t;
        continue;
      }
      const delayMs = prevT === null ? 0 : Math.max(0, ((c.t - prevT) * 1000) / speed);
      pieces.push({ start: Math.max(c.offset, start), end, delayMs });
      prevT = c.t;
    }
    const last = pieces.at(-1);
    if (last && last.end < bytes.length) pieces.push({ start: last.end, end: bytes.length, delayMs: 0 });
  } else {
    let pieceStart = start;
    for (const s of segments) {
      if (s.end - pieceStart >= INSTANT_PIECE_BYTES) {
        pieces.push({ start: pieceStart, end: s.end, delayMs: 0 });
        pieceStart = s.end;
      }
    }
    if (pieceStart < bytes.length) pieces.push({ start: pieceStart, end: bytes.length, delayMs: 0 });
  }
  return { bytes, start, segments, pieces, banner };
}

function respond(fields: Array<[string, string | undefined]>): string {
  const rec: Record<string, string> = {};
  for (const [k, v] of fields) if (v !== undefined) rec[k] = v;
  return formatAction(rec);
}

function hms(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

export async function startAmiReplayServer(opts: AmiReplayServerOptions): Promise<AmiReplayServer> {
  if (opts.host !== undefined && opts.host !== '127.0.0.1') {
    throw new Error(`the AMI replay server listens on 127.0.0.1 only, not ${String(opts.host)}`);
  }
  if (opts.captures.length === 0) throw new Error('the AMI replay server needs at least one capture');
  const speed = opts.speed ?? 1;
  if (!(speed > 0)) throw new Error(`replay speed must be > 0, got ${speed}`);
  const prepared = opts.captures.map((c) => prepare(c, opts.pace, speed));
  const banner = prepared.find((p) => p.banner !== null)?.banner ?? DEFAULT_BANNER;
  const gapMs = opts.pace === 'recorded' ? 1000 / speed : 0;

  const clients = new Set<Client>();
  const streaming = new Set<Client>();
  const live = new Map<string, LiveChannel>();

  // stream position
  let capIdx = 0;
  let pieceIdx = 0;
  let segIdx = 0;
  let pos = prepared[0].start;
  let finished = false;
  let paused = false;
  let closed = false;
  let sentAny = false;
  let needGap = false;
  /** the piece whose delay has already been waited for */
  let delayed: string | null = null;
  let waiting: 'timer' | 'immediate' | 'drain' | null = null;
  let timer: NodeJS.Timeout | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  function track(msg: AmiMessage): void {
    const uid = msg.Uniqueid;
    if (uid === undefined) return;
    if (msg.Event === 'Newchannel') {
      const fields: Record<string, string> = {};
      for (const k of CHANNEL_FIELDS) fields[k] = msg[k] ?? '';
      fields.Application = '';
      fields.ApplicationData = '';
      fields.BridgeId = '';
      live.set(uid, { fields, since: Date.now() });
      return;
    }
    const ch = live.get(uid);
    if (!ch) return;
    if (msg.Event === 'Hangup') {
      live.delete(uid);
      return;
    }
    for (const k of CHANNEL_FIELDS) if (msg[k] !== undefined) ch.fields[k] = msg[k];
    if (msg.Event === 'Newexten') {
      ch.fields.Application = msg.Application ?? '';
      ch.fields.ApplicationData = msg.AppData ?? '';
    } else if (msg.Event === 'BridgeEnter') {
      ch.fields.BridgeId = msg.BridgeUniqueid ?? '';
    } else if (msg.Event === 'BridgeLeave') {
      ch.fields.BridgeId = '';
    }
  }

  /** Track the messages completely sent by now. */
  function feed(): void {
    const segs = prepared[capIdx].segments;
    while (segIdx < segs.length && segs[segIdx].end <= pos) {
      for (const m of segs[segIdx].msgs) track(m);
      segIdx++;
    }
  }

  /** Write to every streaming client; false when one of them needs to drain. */
  function broadcast(buf: Buffer): net.Socket[] {
    const full: net.Socket[] = [];
    for (const c of streaming) if (!c.socket.write(buf)) full.push(c.socket);
    sentAny = true;
    return full;
  }

  /** If the stream stands inside a message, send the rest of it now. */
  function completeCurrentMessage(): void {
    if (finished || streaming.size === 0) return;
    const p = prepared[capIdx];
    const seg = p.segments[segIdx];
    if (seg && seg.start < pos && seg.end > pos) {
      broadcast(p.bytes.subarray(pos, seg.end));
      pos = seg.end;
      feed();
    }
  }

  /** Nobody received the message in flight: go back to its start. */
  function rewind(): void {
    if (finished) return;
    const p = prepared[capIdx];
    const seg = p.segments[segIdx];
    if (seg && seg.start < pos) pos = seg.start;
    const i = p.pieces.findIndex((x) => x.end > pos);
    pieceIdx = i === -1 ? p.pieces.length : i;
  }

  function nextCapture(): void {
    capIdx++;
    if (capIdx >= prepared.length) {
      resolveDone();
      if (!opts.loop) {
        finished = true;
        return;
      }
      capIdx = 0;
    }
    pieceIdx = 0;
    segIdx = 0;
    pos = prepared[capIdx].start;
    needGap = gapMs > 0;
  }

  function wait(kind: 'timer' | 'immediate', ms = 0): void {
    waiting = kind;
    const wake = () => {
      timer = null;
      waiting = null;
      pump();
    };
    if (kind === 'timer') timer = setTimeout(wake, ms);
    else setImmediate(wake);
  }

  function pump(): void {
    if (waiting !== null || closed) return;
    let budget = INSTANT_PIECES_PER_TURN;
    while (!paused && !finished && streaming.size > 0) {
      const p = prepared[capIdx];
      const piece = p.pieces[pieceIdx];
      if (!piece) {
        nextCapture();
        continue;
      }
      if (piece.end <= pos) {
        pieceIdx++;
        continue;
      }
      const key = `${capIdx}:${pieceIdx}`;
      const delay = (needGap && sentAny ? gapMs : 0) + (pieceIdx > 0 || pos > p.start ? piece.delayMs : 0);
      if (delay > 0 && delayed !== key) {
        delayed = key;
        wait('timer', delay);
        return;
      }
      needGap = false;
      const full = broadcast(p.bytes.subarray(Math.max(piece.start, pos), piece.end));
      pos = piece.end;
      pieceIdx++;
      feed();
      if (full.length > 0) {
        waiting = 'drain';
        Promise.all(
          full.map(
            (s) =>
              new Promise<void>((r) => {
                const fin = () => {
                  s.off('drain', fin);
                  s.off('close', fin);
                  r();
                };
                s.on('drain', fin);
                s.on('close', fin);
              }),
          ),
        ).then(() => {
          waiting = null;
          pump();
        });
        return;
      }
      if (--budget === 0) {
        wait('immediate');
        return;
      }
    }
  }

  function stopTimer(): void {
    if (waiting === 'timer' && timer) {
      clearTimeout(timer);
      timer = null;
      waiting = null;
      delayed = null; // wait the piece's delay again after resume
    }
  }

  function coreShowChannels(actionId: string | undefined): string {
    const now = Date.now();
    let text = respond([
      ['Response', 'Success'],
      ['ActionID', actionId],
      ['EventList', 'start'],
      ['Message', 'Channels will follow'],
    ]);
    for (const ch of live.values()) {
      const f = ch.fields;
      text += respond([
        ['Event', 'CoreShowChannel'],
        ['ActionID', actionId],
        ...CHANNEL_FIELDS.map((k): [string, string] => [k, f[k]]),
        ['Application', f.Application],
        ['ApplicationData', f.ApplicationData],
        ['Duration', hms(now - ch.since)],
        ['BridgeId', f.BridgeId],
      ]);
    }
    text += respond([
      ['Event', 'CoreShowChannelsComplete'],
      ['ActionID', actionId],
      ['EventList', 'Complete'],
      ['ListItems', String(live.size)],
    ]);
    return text;
  }

  function reply(client: Client, text: string): void {
    if (streaming.has(client)) completeCurrentMessage();
    client.socket.write(text);
  }

  function onAction(client: Client, msg: AmiMessage): void {
    const action = (msg.Action ?? '').toLowerCase();
    const id = msg.ActionID;
    if (action === 'login') {
      const okUser = opts.username === undefined || msg.Username === opts.username;
      if (!okUser || msg.Secret !== opts.secret) {
        client.socket.end(respond([['Response', 'Error'], ['ActionID', id], ['Message', 'Authentication failed']]));
        return;
      }
      completeCurrentMessage();
      client.loggedIn = true;
      client.socket.write(respond([['Response', 'Success'], ['ActionID', id], ['Message', 'Authentication accepted']]));
      streaming.add(client);
      pump();
      return;
    }
    if (action === 'logoff') {
      streaming.delete(client);
      client.socket.end(respond([['Response', 'Goodbye'], ['ActionID', id], ['Message', 'Thanks for all the fish.']]));
      return;
    }
    if (!client.loggedIn) {
      client.socket.write(respond([['Response', 'Error'], ['ActionID', id], ['Message', 'Permission denied']]));
      return;
    }
    if (action === 'ping') {
      reply(client, respond([['Response', 'Success'], ['ActionID', id], ['Ping', 'Pong'], ['Timestamp', (Date.now() / 1000).toFixed(6)]]));
    } else if (action === 'coreshowchannels') {
      reply(client, coreShowChannels(id));
    } else {
      reply(client, respond([['Response', 'Error'], ['ActionID', id], ['Message', 'Invalid/unknown command']]));
    }
  }

  const server = net.createServer((socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const client: Client = { socket, framer: new AmiFramer(), loggedIn: false };
    clients.add(client);
    socket.on('data', (chunk: Buffer) => {
      for (const msg of client.framer.push(chunk)) {
        if (socket.destroyed) return;
        onAction(client, msg);
      }
    });
    socket.on('error', () => {
      /* the client went away; 'close' follows */
    });
    socket.on('close', () => {
      clients.delete(client);
      const wasStreaming = streaming.delete(client);
      if (wasStreaming && streaming.size === 0) rewind();
    });
    socket.write(banner + '\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    done,
    liveChannels: () => [...live.values()].map((c) => c.fields.Channel),
    pause() {
      paused = true;
      stopTimer();
    },
    resume() {
      paused = false;
      pump();
    },
    dropClients() {
      stopTimer();
      for (const c of clients) {
        streaming.delete(c);
        c.socket.destroy();
      }
      rewind();
    },
    async close() {
      closed = true;
      stopTimer();
      for (const c of clients) c.socket.destroy();
      streaming.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
