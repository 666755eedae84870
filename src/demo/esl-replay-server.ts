/**
 * A FreeSWITCH event socket stand-in that replays raw ESL captures on 127.0.0.1, for
 * tests and `callhook demo`. It speaks enough ESL for EslClient: `auth/request`, `auth`
 * (+OK accepted / -ERR invalid), `event ...` (+OK), `api show channels as json` (the
 * channels alive at the current replay position, tracked from the replayed
 * CHANNEL_CREATE / CHANNEL_HANGUP_COMPLETE), `api status`, other `api` (-ERR), `bgapi`.
 *
 * Only the capture's event frames are streamed, byte for byte (its own greeting and
 * command replies are skipped). A client that reconnects continues at the first event
 * frame it has not fully received.
 */
import net from 'node:net';
import { EslFramer, eventOf } from '../pbx/esl/framer.js';

export interface EslCapture {
  bytes: Buffer;
  /** recv() chunks from the capture's *.ts.json sidecar: {offset, length, rel_ms} */
  chunks?: Array<{ offset: number; length: number; rel_ms: number }>;
}

export interface EslReplayOptions {
  captures: EslCapture[];
  password: string;
  pace: 'instant' | 'recorded';
  /** recorded pace speed-up factor (default 1) */
  speed?: number;
  port?: number;
  /** override the `api show channels as json` body; given the body the replay position implies */
  showChannels?: (atPosition: string) => string;
}

export interface EslReplayServer {
  port: number;
  close(): Promise<void>;
  /** cut every client connection (the replay position is kept) */
  dropClients(): void;
  /** stop streaming events (commands are still answered) */
  pause(): void;
  resume(): void;
  /** hold `api` replies while on (a slow PBX); they are sent, in order, when turned off */
  muteApi(on: boolean): void;
  /** pause by itself once this many event frames have been written (null = never) */
  pauseAt(frames: number | null): void;
  /** number of event frames fully written so far */
  readonly sent: number;
  /** resolves when every event frame has been written to a client */
  done: Promise<void>;
}

interface Frame {
  bytes: Buffer;
  /** ms since the capture's start, for recorded pace */
  at: number;
  event: Record<string, string> | null;
}

/** Split captures into their event frames (skipping greeting and command replies). */
export function eventFrames(captures: EslCapture[]): Frame[] {
  const frames: Frame[] = [];
  for (const cap of captures) {
    const f = new EslFramer();
    let offset = 0;
    // find frame boundaries (same rules as the framer) to keep each frame's exact bytes
    const b = cap.bytes;
    while (offset < b.length) {
      const end = b.indexOf('\n\n', offset, 'latin1');
      if (end === -1) break;
      const head = b.toString('utf8', offset, end);
      const m = /(?:^|\n)Content-Length: (\d+)/.exec(head);
      const next = end + 2 + (m ? Number(m[1]) : 0);
      if (next > b.length) break;
      const bytes = b.subarray(offset, next);
      if (/(?:^|\n)Content-Type: text\/event-/.test(head)) {
        const msg = f.push(bytes)[0];
        frames.push({ bytes, at: relTime(cap, offset), event: msg ? eventOf(msg) : null });
      }
      offset = next;
    }
  }
  return frames;
}

function relTime(cap: EslCapture, offset: number): number {
  const chunks = cap.chunks;
  if (!chunks || chunks.length === 0) return 0;
  // the chunk that holds the frame's last byte decides when it was complete
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (chunks[mid].offset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return chunks[lo].rel_ms;
}

export async function startEslReplayServer(opts: EslReplayOptions): Promise<EslReplayServer> {
  const frames = eventFrames(opts.captures);
  const speed = opts.speed && opts.speed > 0 ? opts.speed : 1;
  const live = new Map<string, Record<string, string>>();
  const clients = new Set<net.Socket>();
  let streaming: net.Socket | null = null;
  let pos = 0;
  let paused = false;
  let apiMuted = false;
  let held: Array<() => void> = [];
  let stopAt: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let lastAt = 0;
  let lastWall = 0;

  function track(ev: Record<string, string> | null): void {
    if (!ev) return;
    const id = ev['Unique-ID'];
    if (!id) return;
    const name = ev['Event-Name'];
    if (name === 'CHANNEL_CREATE') live.set(id, { ...ev });
    else if (name === 'CHANNEL_HANGUP_COMPLETE' || name === 'CHANNEL_DESTROY') live.delete(id);
    else if (live.has(id)) {
      const row = live.get(id)!;
      if (ev['Channel-Call-State']) row['Channel-Call-State'] = ev['Channel-Call-State'];
      if (ev['Caller-Callee-ID-Number']) row['Caller-Callee-ID-Number'] = ev['Caller-Callee-ID-Number'];
    }
  }

  function showChannels(): string {
    const body = channelsAtPosition();
    return opts.showChannels ? opts.showChannels(body) : body;
  }

  function channelsAtPosition(): string {
    const rows = [...live.values()].map((e) => ({
      uuid: e['Unique-ID'],
      direction: e['Call-Direction'] ?? '',
      created_epoch: String(Math.floor(Number(e['Event-Date-Timestamp'] ?? 0) / 1e6)),
      name: e['Channel-Name'] ?? '',
      state: e['Channel-State'] ?? '',
      cid_name: e['Caller-Caller-ID-Name'] ?? '',
      cid_num: e['Caller-Caller-ID-Number'] ?? '',
      dest: e['Caller-Destination-Number'] ?? '',
      context: e['Caller-Context'] ?? '',
      callstate: e['Channel-Call-State'] ?? '',
      callee_name: e['Caller-Callee-ID-Name'] ?? '',
      callee_num: e['Caller-Callee-ID-Number'] ?? '',
      call_uuid: e['Channel-Call-UUID'] ?? e['Unique-ID'],
    }));
    return JSON.stringify(rows.length ? { row_count: rows.length, rows } : { row_count: 0 });
  }

  function pump(): void {
    timer = null;
    const s = streaming;
    if (!s || s.destroyed || paused) return;
    while (pos < frames.length) {
      if (stopAt !== null && pos >= stopAt) {
        paused = true;
        return;
      }
      const fr = frames[pos];
      if (opts.pace === 'recorded') {
        const due = lastWall + (fr.at - lastAt) / speed;
        const now = Date.now();
        if (due > now + 1) {
          timer = setTimeout(pump, due - now);
          return;
        }
        lastAt = fr.at;
        lastWall = Math.max(due, now - 1000);
      }
      const ok = s.write(fr.bytes);
      track(fr.event);
      pos++;
      if (!ok) {
        s.once('drain', () => schedule());
        return;
      }
    }
    if (pos >= frames.length) resolveDone();
  }

  function schedule(): void {
    if (timer === null && !paused) timer = setTimeout(pump, 0);
  }

  function reply(s: net.Socket, text: string): void {
    s.write(`Content-Type: command/reply\nReply-Text: ${text}\n\n`);
  }

  function apiResponse(s: net.Socket, body: string): void {
    s.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
  }

  function onCommand(s: net.Socket, state: { authed: boolean }, line: string): void {
    const [verb, ...rest] = line.split(' ');
    const arg = rest.join(' ');
    if (!state.authed) {
      if (verb === 'auth' && arg === opts.password) {
        state.authed = true;
        reply(s, '+OK accepted');
      } else {
        reply(s, '-ERR invalid');
        s.end();
      }
      return;
    }
    switch (verb) {
      case 'event': {
        const format = rest[0] === 'json' ? 'json' : rest[0] === 'xml' ? 'xml' : 'plain';
        reply(s, `+OK event listener enabled ${format}`);
        if (streaming && streaming !== s && !streaming.destroyed) streaming.destroy();
        streaming = s;
        lastWall = Date.now();
        lastAt = pos < frames.length ? frames[pos].at : 0;
        schedule();
        return;
      }
      case 'api':
        if (apiMuted) {
          held.push(() => {
            if (!s.destroyed) onCommand(s, state, line);
          });
          return;
        }
        if (arg === 'show channels as json') apiResponse(s, showChannels());
        else if (arg === 'status') apiResponse(s, 'UP 0 years, 0 days, 0 hours, 0 minutes, 1 second\nFreeSWITCH (replay) is ready\n');
        else apiResponse(s, `-ERR ${rest[0] ?? ''} Command not found!\n`);
        return;
      case 'bgapi': {
        const job = `replay-job-${Math.random().toString(16).slice(2)}`;
        s.write(`Content-Type: command/reply\nReply-Text: +OK Job-UUID: ${job}\nJob-UUID: ${job}\n\n`);
        const result = `-ERR ${rest[0] ?? ''} Command not found!\n`;
        const body = `Event-Name: BACKGROUND_JOB\nJob-UUID: ${job}\nJob-Command: ${encodeURIComponent(rest[0] ?? '')}\nContent-Length: ${Buffer.byteLength(result)}\n\n${result}`;
        s.write(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-plain\n\n${body}`);
        return;
      }
      case 'exit':
        reply(s, '+OK bye');
        s.end();
        return;
      default:
        reply(s, '-ERR command not found');
    }
  }

  const server = net.createServer((s) => {
    clients.add(s);
    const state = { authed: false };
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n\n')) !== -1) {
        const line = buf.slice(0, i).replace(/\r/g, '').trim();
        buf = buf.slice(i + 2);
        if (line) onCommand(s, state, line);
      }
      if (buf.length > 65536) s.destroy();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clients.delete(s);
      if (streaming === s) {
        streaming = null;
        if (timer) clearTimeout(timer);
        timer = null;
      }
    });
    s.write('Content-Type: auth/request\n\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  if (frames.length === 0) resolveDone();

  return {
    port,
    done,
    get sent() {
      return pos;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (timer) clearTimeout(timer);
        for (const c of clients) c.destroy();
        server.close(() => resolve());
      }),
    dropClients: () => {
      for (const c of clients) c.destroy();
    },
    pause: () => {
      paused = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
    resume: () => {
      paused = false;
      lastWall = Date.now();
      lastAt = pos < frames.length ? frames[pos].at : lastAt;
      schedule();
    },
    muteApi: (on: boolean) => {
      apiMuted = on;
      if (!on) {
        const run = held;
        held = [];
        for (const f of run) f();
      }
    },
    pauseAt: (n: number | null) => {
      stopAt = n;
    },
  };
}
