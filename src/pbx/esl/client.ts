/**
 * FreeSWITCH Event Socket (inbound ESL) client: connects, authenticates, subscribes to the
 * events the translator needs, runs `api` / `bgapi` commands, keeps the connection alive
 * and reconnects with backoff. After every (re)connect it takes a `show channels as json`
 * snapshot and emits 'resync' before 'connected', so the tracker can reconcile.
 *
 * Why not `modesl` (rejected on reproduced defects): an uncaught URIError from
 * decodeURIComponent on a reply like `-ERR 100% broken` kills the process; it has no
 * reconnect, and after ECONNRESET `connected()` stays true while pending api callbacks
 * never fire; a refused connection without an error listener crashes the process; and it
 * depends on xml2js 0.4.23 (prototype-pollution advisory) and uuid 3.
 *
 * Events emitted:
 *   'event' (headers: Record<string,string>, receivedAt: number)  every event, in order
 *   'resync' (rows: unknown[], time: number)   `show channels as json` rows after a connect
 *   'connected' ()                               after auth, subscription and resync
 *   'disconnected' (reason: string)
 *   'auth_error' (message: string)               wrong password (retries continue)
 *   'error' is never emitted (logged instead), so a missing listener cannot crash.
 *
 * Default event format: plain. Measured on the captures in test/fixtures/freeswitch (`event
 * plain` vs `event json` of the same events, framer + translator): plain ~73k events/s, json
 * ~35k on this machine. JSON.parse has to build all ~150 headers of an event; the plain framer
 * decodes only the ~50 the translator reads (`keepHeaders`, ESL_HEADERS_USED) and passes the
 * rest over. (With every header decoded, plain was the slower one: ~30-35k against ~45k.)
 * A bad %-escape keeps its raw text and is counted. json stays available.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from 'pino';
import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { EslFramer, eventOf, type EslMessage } from './framer.js';
import { LogThrottle } from '../../observe/throttle.js';

/** The ESL events the translator maps; everything else is not subscribed. */
export const ESL_EVENTS = [
  'CHANNEL_CREATE',
  'CHANNEL_PROGRESS',
  'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_ANSWER',
  'CHANNEL_BRIDGE',
  'CHANNEL_HOLD',
  'CHANNEL_UNHOLD',
  'CHANNEL_CALLSTATE',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
  'DTMF',
  'RECORD_START',
  'BACKGROUND_JOB',
] as const;
export const ESL_CUSTOM_SUBCLASSES = ['callcenter::info'] as const;
const SUBSCRIBED = new Set<string>([...ESL_EVENTS, 'CUSTOM']);
/** The events a live connection receives (what it subscribes to): offline decoders skip the rest of an `event ... ALL` capture. */
export const keepSubscribed = (name: string): boolean => SUBSCRIBED.has(name);

export interface EslClientOptions {
  host: string;
  port: number;
  password: string;
  eventFormat?: 'plain' | 'json';
  /** timeout of one api / bgapi command, ms (default 10 s) */
  apiTimeoutMs?: number;
  /** keepalive `api status` interval, ms (default 30 s; 0 = off) */
  pingIntervalMs?: number;
  logger: Logger;
  /** PBX connection name, for logs */
  name: string;
  backoff?: Omit<BackoffOptions, 'random'> & { random?: () => number };
  /** connect timeout, ms (default 10 s) */
  connectTimeoutMs?: number;
  /**
   * The event headers the listener reads (default: all; see EslFramerOptions.keepHeaders).
   * Plain events are decoded only that far; Event-Name and Job-UUID (for bgapi replies) are always kept.
   */
  keepHeaders?: readonly string[];
}

interface Pending {
  kind: 'api' | 'command' | 'bgapi';
  resolve: (v: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  /** timed out: the late reply is still consumed to keep replies in order */
  dead: boolean;
  cmd: string;
  /** called synchronously with the reply, before any later frame of the stream is handled */
  onReply?: (text: string) => void;
}

type Phase = 'idle' | 'connecting' | 'auth' | 'subscribing' | 'ready' | 'closed';

const ESL_GREETING = 'Content-Type: auth/request';

export class EslClientError extends Error {}

export class EslClient extends EventEmitter {
  private readonly opts: Required<Omit<EslClientOptions, 'backoff' | 'keepHeaders'>> & Pick<EslClientOptions, 'backoff' | 'keepHeaders'>;
  private readonly log: Logger;
  private socket: net.Socket | null = null;
  private framer: EslFramer;
  private readonly malformedLog = new LogThrottle(10_000);
  /** the first bytes of this connection, until they proved it is FreeSWITCH's event socket */
  private greeting: string | null = '';
  private phase: Phase = 'idle';
  private queue: Pending[] = [];
  private jobs = new Map<string, Pending>();
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** counters for metrics */
  readonly stats = { connects: 0, authFailures: 0, events: 0, malformedEvents: 0, framingErrors: 0 };

  constructor(opts: EslClientOptions) {
    super();
    this.opts = {
      eventFormat: 'plain',
      apiTimeoutMs: 10_000,
      pingIntervalMs: 30_000,
      connectTimeoutMs: 10_000,
      ...opts,
    } as EslClient['opts'];
    this.log = opts.logger.child({ pbx: opts.name, component: 'esl' });
    this.framer = this.newFramer();
  }

  private newFramer(): EslFramer {
    const wanted = this.opts.keepHeaders;
    return new EslFramer(wanted === undefined ? {} : { keepHeaders: [...wanted, 'Event-Name', 'Job-UUID'] });
  }

  /** when FreeSWITCH last sent a byte: a connection delivering bytes is alive */
  private lastByteAt = 0;

  /**
   * Logged in and subscribed, and not silent for longer than a keepalive round (ping
   * interval plus the api timeout): /readyz turns 503 as soon as liveness is in doubt.
   */
  get ready(): boolean {
    if (this.phase !== 'ready') return false;
    return this.opts.pingIntervalMs <= 0 || Date.now() - this.lastByteAt <= this.opts.pingIntervalMs + this.opts.apiTimeoutMs;
  }

  /** Start connecting (and keep reconnecting until close()). */
  start(): void {
    if (this.stopped || this.phase !== 'idle') return;
    this.connect();
  }

  /** Stop for good: no reconnect, pending commands rejected. */
  close(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const s = this.socket;
    this.teardown('client closed');
    this.phase = 'closed';
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      if (s.destroyed) resolve();
      else s.once('close', () => resolve());
    });
  }

  /** Run `api CMD`; resolves with the response body (which may be `-ERR ...`). */
  api(cmd: string): Promise<string> {
    checkCommand(cmd);
    return this.send(`api ${cmd}`, 'api');
  }

  /** Run `bgapi CMD`; resolves with the BACKGROUND_JOB result body. */
  bgapi(cmd: string): Promise<string> {
    checkCommand(cmd);
    return this.send(`bgapi ${cmd}`, 'bgapi');
  }

  // --- connection lifecycle -------------------------------------------------------------

  private connect(): void {
    this.phase = 'connecting';
    this.framer = this.newFramer();
    this.greeting = '';
    const { host, port } = this.opts;
    this.log.debug({ host, port }, 'connecting to FreeSWITCH event socket');
    const socket = net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(this.opts.connectTimeoutMs);
    socket.on('timeout', () => {
      if (this.phase !== 'ready') {
        this.log.warn({ host, port, phase: this.phase }, 'ESL connect/login timed out');
        socket.destroy();
      }
    });
    socket.on('connect', () => {
      this.phase = 'auth';
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.log.warn({ host, port, code: err.code, err: err.message }, 'ESL socket error');
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      const wasReady = this.phase === 'ready';
      this.teardown(wasReady ? 'connection lost' : 'connection closed before login completed');
      if (wasReady) {
        this.log.warn({ host, port }, `ESL connection to ${this.opts.name} lost: reconnecting (calls are resynced with show channels)`);
        this.emit('disconnected', 'connection lost');
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.phase = 'idle';
    const delay = backoffDelay(this.attempt++, this.opts.backoff);
    this.log.info({ delayMs: delay, attempt: this.attempt }, 'ESL reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
    // not unref'd: while it waits to reconnect, this timer is what keeps a daemon with no
    // other open handle (no HTTP listener, idle outbox) from exiting. close() clears it.
  }

  /**
   * FreeSWITCH's event socket says `Content-Type: auth/request` first. Anything else (an SSH
   * banner, an HTTP server) is named in the log and dropped: the password is only ever sent
   * in answer to that request.
   */
  private greeted(chunk: Buffer): boolean {
    const head = (this.greeting += chunk.toString('latin1', 0, Math.min(chunk.length, 64))).slice(0, 64);
    if (head.length < ESL_GREETING.length && ESL_GREETING.startsWith(head)) return true; // more to come
    if (head.startsWith(ESL_GREETING)) {
      this.greeting = null;
      return true;
    }
    const first = head.split(/\r?\n/)[0];
    this.log.error({ host: this.opts.host, port: this.opts.port, answered: first }, `${this.opts.name} at ${this.opts.host}:${this.opts.port} is not a FreeSWITCH event socket: it answered ${JSON.stringify(first)}; no password sent`);
    this.socket?.destroy();
    return false;
  }

  /** Drop the socket and fail everything pending. */
  private teardown(reason: string): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const s = this.socket;
    this.socket = null;
    if (s && !s.destroyed) s.destroy();
    const err = new EslClientError(`ESL ${reason}`);
    for (const p of this.queue) this.settle(p, err);
    this.queue = [];
    for (const p of this.jobs.values()) this.settle(p, err);
    this.jobs.clear();
  }

  private onData(chunk: Buffer): void {
    this.lastByteAt = Date.now();
    if (this.greeting !== null && !this.greeted(chunk)) return;
    const receivedAt = Date.now();
    let msgs: EslMessage[];
    const before = this.framer.stats.framingErrors;
    msgs = this.framer.push(chunk);
    if (this.framer.stats.framingErrors !== before) {
      this.stats.framingErrors++;
      this.log.error({ reason: this.framer.lastError }, 'unparseable ESL frame: reconnecting to resynchronize');
      this.socket?.destroy();
      return;
    }
    for (const m of msgs) {
      try {
        this.onMessage(m, receivedAt);
      } catch (err) {
        // a listener threw: log it, never let it kill the socket loop
        this.log.error({ err }, 'ESL message handler failed');
      }
      if (!this.socket) return;
    }
  }

  private onMessage(m: EslMessage, receivedAt: number): void {
    const type = m.headers['Content-Type'];
    switch (type) {
      case 'auth/request':
        this.log.debug('ESL authenticating');
        this.write(`auth ${this.opts.password}`); // the password is never logged
        this.queue.push(this.internal('command', 'auth', (reply) => this.onAuthReply(reply)));
        return;
      case 'command/reply':
        this.reply('command', m.headers['Reply-Text'] ?? '', m.headers['Job-UUID']);
        return;
      case 'api/response':
        this.reply('api', m.body ?? '');
        return;
      case 'text/event-plain':
      case 'text/event-json': {
        const ev = eventOf(m);
        if (!ev) {
          this.stats.malformedEvents++;
          const t = this.malformedLog.take();
          if (t) this.log.warn({ bytes: m.body?.length ?? 0, sample: m.body?.slice(0, 120), malformed_total: this.stats.malformedEvents, suppressed: t.suppressed }, 'malformed ESL event skipped (one line per 10 s at most)');
          return;
        }
        this.stats.events++;
        if (ev['Event-Name'] === 'BACKGROUND_JOB') this.onJob(ev);
        this.emit('event', ev, receivedAt);
        return;
      }
      case 'text/disconnect-notice':
        this.log.warn({ body: m.body?.slice(0, 200) }, 'FreeSWITCH announced a disconnect');
        this.socket?.destroy();
        return;
      case 'text/rude-rejection':
        this.log.error({ body: m.body?.slice(0, 200) }, 'FreeSWITCH rejected the connection (check event_socket apply-inbound-acl)');
        this.socket?.destroy();
        return;
      default:
        this.log.debug({ type }, 'ignoring ESL frame');
    }
  }

  private onAuthReply(reply: string): void {
    if (!reply.startsWith('+OK')) {
      this.stats.authFailures++;
      const message = `ESL authentication failed for ${this.opts.host}:${this.opts.port}: ${reply || 'no reply'} (check the ESL password)`;
      this.log.error({ host: this.opts.host, port: this.opts.port, reply }, message);
      this.emit('auth_error', message);
      this.socket?.destroy();
      return;
    }
    this.phase = 'subscribing';
    const events = `${ESL_EVENTS.join(' ')} CUSTOM ${ESL_CUSTOM_SUBCLASSES.join(' ')}`;
    this.write(`event ${this.opts.eventFormat} ${events}`);
    this.queue.push(
      this.internal('command', 'event', (r) => {
        if (!r.startsWith('+OK')) {
          this.log.error({ reply: r }, 'ESL event subscription refused');
          this.socket?.destroy();
          return;
        }
        this.afterSubscribe();
      }),
    );
  }

  /**
   * The login resync. Its reply is handled synchronously, at the point in the stream where
   * the api/response frame completes: events that follow it in the same TCP chunk are only
   * emitted after 'resync', so a leg they create is never taken for one that ended while
   * we were disconnected. (Awaiting the reply would let them overtake it.)
   */
  private afterSubscribe(): void {
    const socket = this.socket;
    this.send('api show channels as json', 'api', true, (body) => this.onResyncReply(socket, body)).catch((err: Error) => {
      if (this.socket === socket && socket) {
        this.log.warn({ err: err.message }, 'show channels as json failed: reconnecting');
        socket.destroy();
      }
    });
  }

  private onResyncReply(socket: net.Socket | null, body: string): void {
    if (this.socket !== socket || !socket) return;
    let rows: unknown[];
    try {
      rows = parseShowChannels(body);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'show channels as json failed: reconnecting');
      socket.destroy();
      return;
    }
    socket.setTimeout(0);
    this.phase = 'ready';
    this.attempt = 0;
    this.stats.connects++;
    this.log.info({ host: this.opts.host, port: this.opts.port, liveChannels: rows.length }, 'ESL connected');
    this.emit('resync', rows, Date.now());
    this.emit('connected');
    if (this.opts.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs);
      this.pingTimer.unref?.();
    }
  }

  private ping(): void {
    const socket = this.socket;
    const sentAt = Date.now();
    this.send('api status', 'api').catch((err: Error) => {
      // bytes kept coming: the reply is behind a backlog, FreeSWITCH is alive
      if (this.lastByteAt > sentAt) return;
      if (this.socket === socket && socket) {
        this.log.warn({ err: err.message }, 'ESL keepalive failed: reconnecting');
        socket.destroy();
      }
    });
  }

  // --- commands -------------------------------------------------------------------------

  private send(line: string, kind: 'api' | 'bgapi', duringLogin = false, onReply?: (text: string) => void): Promise<string> {
    if (!this.socket || (!duringLogin && this.phase !== 'ready')) {
      return Promise.reject(new EslClientError('ESL not connected'));
    }
    return new Promise<string>((resolve, reject) => {
      const cmd = line.split(' ', 2).join(' ');
      const p: Pending = { kind, resolve, reject, timer: null, dead: false, cmd, onReply };
      p.timer = setTimeout(() => {
        p.dead = true;
        if (p.kind === 'bgapi') for (const [id, q] of this.jobs) if (q === p) this.jobs.delete(id);
        p.reject(new EslClientError(`ESL command timed out after ${this.opts.apiTimeoutMs} ms: ${cmd}`));
      }, this.opts.apiTimeoutMs);
      this.queue.push(p);
      this.write(line);
    });
  }

  private internal(kind: 'command', cmd: string, onReply: (reply: string) => void): Pending {
    return { kind, resolve: onReply, reject: () => undefined, timer: null, dead: false, cmd };
  }

  /** Replies come back in command order: the oldest pending command owns this one. */
  private reply(kind: 'api' | 'command', text: string, jobUuid?: string): void {
    const p = this.queue.shift();
    if (!p) {
      this.log.debug({ kind }, 'unexpected ESL reply ignored');
      return;
    }
    if (p.dead) return; // timed out earlier: its late reply is dropped here, keeping order
    if (p.kind === 'bgapi') {
      const id = jobUuid ?? /^\+OK Job-UUID: (\S+)/.exec(text)?.[1];
      if (text.startsWith('+OK') && id) this.jobs.set(id, p); // wait for BACKGROUND_JOB
      else this.settle(p, new EslClientError(`bgapi refused: ${text}`));
      return;
    }
    if (p.timer) clearTimeout(p.timer);
    p.onReply?.(text);
    p.resolve(text);
  }

  private onJob(ev: Record<string, string>): void {
    const p = this.jobs.get(ev['Job-UUID'] ?? '');
    if (!p) return;
    this.jobs.delete(ev['Job-UUID']);
    if (p.timer) clearTimeout(p.timer);
    if (!p.dead) p.resolve(ev._body ?? '');
  }

  private settle(p: Pending, err: Error): void {
    if (p.timer) clearTimeout(p.timer);
    if (!p.dead) {
      p.dead = true;
      p.reject(err);
    }
  }

  private write(line: string): void {
    this.socket?.write(`${line}\n\n`);
  }
}

/** Command text must be one line: a CR or LF would inject a second ESL command. */
function checkCommand(cmd: string): void {
  if (typeof cmd !== 'string' || cmd.trim() === '') throw new TypeError('ESL command must be a non-empty string');
  if (/[\r\n]/.test(cmd)) throw new TypeError('ESL command must not contain CR or LF');
}

/** Body of `api show channels as json` -> rows ([] for `{"row_count":0}`). */
export function parseShowChannels(body: string): unknown[] {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new EslClientError(`show channels as json: not JSON: ${body.slice(0, 80)}`);
  }
  if (v === null || typeof v !== 'object') throw new EslClientError('show channels as json: not an object');
  const rows = (v as { rows?: unknown }).rows;
  return Array.isArray(rows) ? rows : [];
}
