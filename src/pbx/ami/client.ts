/**
 * Asterisk Manager Interface (AMI) client: one TCP connection to one Asterisk, kept alive.
 * Logs in (Events: on), emits every event in order, runs actions with timeouts and event
 * lists, pings, reconnects with backoff, and after each login asks CoreShowChannels so the
 * call tracker can resynchronise what it missed during an outage.
 *
 * Why our own and not the `asterisk-manager` npm package: it was rejected on reproduced
 * defects: after a `--END COMMAND--` glued to the last output line it swallows every later
 * event until reconnect; no action timeouts, and actions sent during an outage are silently
 * lost; CRLF injection through action values; its first reconnect is a fixed 10 s; and it
 * has no event-list support. Here: actions time out, reject at once while disconnected and
 * on disconnect, refuse CR/LF, reconnect starts at <= 1 s with jitter, lists are collected.
 *
 * Events: 'event' (AmiMessage), 'resync' (CoreShowChannel messages), 'connected',
 * 'disconnected' (reason), 'auth_error' (Error). The secret is never logged.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AmiFramer, formatAction, type AmiMessage } from './framer.js';
import { backoffDelay } from '../backoff.js';
import { LogThrottle } from '../../observe/throttle.js';

/** what Asterisk's manager says first; anything else is not given the secret */
const AMI_BANNER = /^Asterisk Call Manager\/\S+/;

export interface AmiClientOptions {
  host: string;
  port: number;
  username: string;
  secret: string;
  /** an action (and the login, and the banner wait) fails after this long; default 10000 */
  actionTimeoutMs?: number;
  /** keepalive Ping period; default 20000 */
  pingIntervalMs?: number;
  logger: Logger;
  /** PBX name, for logs */
  name: string;
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Which events to parse and emit (see AmiFramer's keepEvent). Action responses, the
   * CoreShowChannels list and Shutdown are always kept. Default: every event.
   */
  keepEvent?: (name: string) => boolean;
}

export interface AmiActionResult {
  /** the Response message */
  response: AmiMessage;
  /** for list actions (EventList: start): the list's events, without the closing ...Complete event */
  events: AmiMessage[];
}

export interface AmiClientEvents {
  event: [AmiMessage];
  resync: [AmiMessage[]];
  connected: [];
  disconnected: [string];
  auth_error: [Error];
}

export interface AmiClientStats {
  /** malformed lines skipped by the framer (all connections) */
  malformedLines: number;
  /** oversized messages dropped by the framer (all connections) */
  oversizedMessages: number;
  /** successful logins */
  logins: number;
  /** events skipped unparsed by keepEvent (all connections) */
  skippedEvents: number;
}

interface Pending {
  action: string;
  resolve: (r: AmiActionResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  response: AmiMessage | null;
  events: AmiMessage[];
  /** called synchronously when the response/list completes, before any later message is handled */
  onSettled?: (r: AmiActionResult) => void;
}

/** One TCP connection attempt and what belongs to it. */
interface Conn {
  socket: net.Socket;
  framer: AmiFramer;
  /** why it ended, when we know better than 'closed' */
  reason: string | null;
  /** the last socket error */
  error: string | null;
  loggedIn: boolean;
  sawShutdown: boolean;
  bannerTimer: NodeJS.Timeout | null;
  pingTimer: NodeJS.Timeout | null;
  pingInFlight: boolean;
  /** when the PBX last sent a byte: a connection delivering bytes is alive */
  lastByteAt: number;
  closed: Promise<void>;
}

/** events the client itself needs whatever its user wants: the resync list, shutdown */
const CLIENT_EVENTS = new Set(['CoreShowChannel', 'CoreShowChannelsComplete', 'Shutdown', 'FullyBooted']);


export class AmiClient extends EventEmitter<AmiClientEvents> {
  private readonly opts: Required<Omit<AmiClientOptions, 'backoff' | 'keepEvent'>> & { backoff: { initialMs?: number; maxMs?: number } };
  private readonly log: Logger;
  private readonly malformedLog = new LogThrottle(10_000);
  private readonly where: string;
  /** unique per client, so our ActionIDs never collide with other AMI users' ones */
  private readonly idPrefix = `callhook-${randomBytes(4).toString('hex')}-`;
  private seq = 0;
  private readonly pending = new Map<string, Pending>();
  private conn: Conn | null = null;
  private started = false;
  private stopped = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly counters: AmiClientStats = { malformedLines: 0, oversizedMessages: 0, logins: 0, skippedEvents: 0 };

  private readonly keepEvent?: (name: string) => boolean;

  constructor(options: AmiClientOptions) {
    super();
    const wanted = options.keepEvent;
    if (wanted) this.keepEvent = (name) => CLIENT_EVENTS.has(name) || wanted(name);
    this.opts = {
      actionTimeoutMs: 10_000,
      pingIntervalMs: 20_000,
      ...options,
      backoff: options.backoff ?? {},
    };
    this.where = `${options.host}:${options.port}`;
    // add the pbx name unless the caller's logger already carries it (no duplicate JSON keys)
    const bound = options.logger.bindings();
    this.log = options.logger.child(bound.pbx === options.name ? { host: this.where } : { pbx: options.name, host: this.where });
  }

  /** Logged in and ready for actions. */
  /**
   * Logged in, and not silent for longer than a keepalive round (ping interval plus the
   * action timeout): /readyz turns 503 as soon as liveness is in doubt, not when the Ping
   * finally times out.
   */
  get connected(): boolean {
    const c = this.conn;
    if (c?.loggedIn !== true) return false;
    return this.opts.pingIntervalMs <= 0 || Date.now() - c.lastByteAt <= this.opts.pingIntervalMs + this.opts.actionTimeoutMs;
  }

  get stats(): AmiClientStats {
    return { ...this.counters, skippedEvents: this.counters.skippedEvents + (this.conn?.framer.skipped ?? 0) };
  }

  /** Connect, and keep connected until stop(). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.connect();
  }

  /** Close the connection, reject pending actions, and stop reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.started = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const conn = this.conn;
    if (!conn) return;
    conn.reason = 'stopped';
    if (conn.loggedIn && !conn.socket.destroyed) {
      // polite, not awaited: Asterisk answers Goodbye and closes
      conn.socket.write('Action: Logoff\r\n\r\n');
      conn.socket.end();
      const t = setTimeout(() => conn.socket.destroy(), 500);
      await conn.closed;
      clearTimeout(t);
    } else {
      conn.socket.destroy();
      await conn.closed;
    }
  }

  /**
   * Send an action. An ActionID is added (one given is replaced). Resolves with the
   * response, and for list actions (EventList: start) with the list's events once the
   * ...Complete event arrived. Rejects at once while disconnected, on CR/LF in a field, on
   * timeout, and when the connection drops first. A `Response: Error` resolves (look at
   * response.Response).
   */
  action(fields: Record<string, string>): Promise<AmiActionResult> {
    const conn = this.conn;
    if (!conn || !conn.loggedIn) {
      return Promise.reject(
        new Error(`AMI ${this.opts.name} (${this.where}) is not connected: action ${fields.Action ?? '(none)'} not sent`),
      );
    }
    return this.send(conn, fields);
  }

  private send(conn: Conn, fields: Record<string, string>, onSettled?: (r: AmiActionResult) => void): Promise<AmiActionResult> {
    const action = fields.Action;
    if (!action) return Promise.reject(new Error('AMI action has no Action field'));
    const id = this.idPrefix + ++this.seq;
    let text: string;
    try {
      const { Action: _a, ActionID: _id, ...rest } = fields;
      text = formatAction({ Action: action, ActionID: id, ...rest });
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<AmiActionResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        reject(
          new Error(
            `AMI action ${action} (ActionID ${id}) to ${this.opts.name} at ${this.where} timed out after ${this.opts.actionTimeoutMs} ms`,
          ),
        );
      }, this.opts.actionTimeoutMs);
      this.pending.set(id, { action, resolve, reject, timer, response: null, events: [], onSettled });
      conn.socket.write(text);
    });
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.stopped) return;
    const socket = net.createConnection({ host: this.opts.host, port: this.opts.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    let onClosed!: () => void;
    const conn: Conn = {
      socket,
      framer: new AmiFramer({
        keepEvent: this.keepEvent,
        onMalformed: (line) => this.onMalformed(line),
        onOversized: (bytes) => {
          this.counters.oversizedMessages++;
          this.log.error({ bytes }, 'AMI message too large without terminator: dropped');
        },
      }),
      reason: null,
      error: null,
      loggedIn: false,
      sawShutdown: false,
      bannerTimer: null,
      pingTimer: null,
      pingInFlight: false,
      lastByteAt: Date.now(),
      closed: new Promise<void>((r) => (onClosed = r)),
    };
    this.conn = conn;
    conn.bannerTimer = setTimeout(() => {
      conn.reason = `no AMI banner within ${this.opts.actionTimeoutMs} ms (is this an AMI port?)`;
      socket.destroy();
    }, this.opts.actionTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      conn.error = err.code ? `${err.code}: ${err.message}` : err.message;
    });
    socket.on('end', () => {
      if (!conn.reason) conn.reason = conn.sawShutdown ? 'Asterisk shut down (Event: Shutdown)' : 'connection closed by Asterisk';
      socket.end();
    });
    socket.on('close', () => {
      this.onClose(conn);
      onClosed();
    });
  }

  private onMalformed(line: string): void {
    const n = ++this.counters.malformedLines;
    const t = this.malformedLog.take();
    if (t) this.log.warn({ line: line.slice(0, 200), malformed_total: n, suppressed: t.suppressed }, 'AMI line without ": " skipped (one line per 10 s at most)');
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (this.conn !== conn) return;
    conn.lastByteAt = Date.now();
    const msgs = conn.framer.push(chunk);
    if (conn.bannerTimer && conn.framer.banner !== null) {
      clearTimeout(conn.bannerTimer);
      conn.bannerTimer = null;
      const banner = conn.framer.banner;
      if (!AMI_BANNER.test(banner)) {
        // not Asterisk: the secret is never sent to whatever answered
        conn.reason = `not an AMI server: it answered ${JSON.stringify(banner.slice(0, 80))} (expected "Asterisk Call Manager/…"); no login sent`;
        this.log.error({ banner: banner.slice(0, 80) }, `${this.opts.name} at ${this.where} is not an AMI server: no login sent`);
        conn.socket.destroy();
        return;
      }
      this.log.debug({ banner }, 'AMI banner received');
      this.login(conn);
    }
    for (const msg of msgs) {
      if (this.conn !== conn) return;
      this.onMessage(conn, msg);
    }
  }

  private onMessage(conn: Conn, msg: AmiMessage): void {
    const id = msg.ActionID;
    if (id !== undefined && id.startsWith(this.idPrefix)) {
      const p = this.pending.get(id);
      if (p) {
        if (p.response === null && msg.Response !== undefined && msg.Event === undefined) {
          p.response = msg;
          if (msg.EventList?.toLowerCase() !== 'start') this.settle(id, p);
          return;
        }
        if (p.response !== null && msg.Event !== undefined) {
          if (msg.EventList?.toLowerCase() === 'complete') this.settle(id, p);
          else p.events.push(msg);
          return;
        }
      } else if (msg.Event === undefined) {
        // a late response to an action that already timed out: not an event
        this.log.debug({ action_id: id }, 'AMI response after its action timed out: ignored');
        return;
      }
      // other events carrying our ActionID (e.g. OriginateResponse) are events
    }
    if (msg.Event === 'Shutdown') conn.sawShutdown = true;
    this.safeEmit('event', msg);
  }

  /** A throwing listener is a bug elsewhere; it must not kill the connection or the daemon. */
  private safeEmit<K extends keyof AmiClientEvents>(name: K, ...args: AmiClientEvents[K]): void {
    try {
      (this.emit as (n: string, ...a: unknown[]) => boolean).call(this, name, ...args);
    } catch (err) {
      this.log.error({ err, listener_of: name, ami_event: name === 'event' ? (args[0] as AmiMessage).Event : undefined }, 'AMI client listener threw');
    }
  }

  private settle(id: string, p: Pending): void {
    this.pending.delete(id);
    clearTimeout(p.timer);
    const result = { response: p.response as AmiMessage, events: p.events };
    p.onSettled?.(result);
    p.resolve(result);
  }

  private login(conn: Conn): void {
    const user = this.opts.username;
    this.send(conn, { Action: 'Login', Username: user, Secret: this.opts.secret, Events: 'on' }).then(
      ({ response }) => {
        if (this.conn !== conn) return;
        if (response.Response !== 'Success') {
          const why = response.Message || response.Response || 'no reason given';
          const err = new Error(`AMI login failed for user ${user} at ${this.where}: ${why}`);
          this.log.error({ user }, err.message);
          conn.reason = `login failed: ${why}`;
          this.safeEmit('auth_error', err);
          conn.socket.destroy();
          return;
        }
        conn.loggedIn = true;
        this.attempt = 0;
        this.counters.logins++;
        this.log.info({ user }, `AMI connected and logged in to ${this.opts.name} at ${this.where}`);
        this.startPing(conn);
        this.resync(conn);
      },
      (err: Error) => {
        if (this.conn !== conn) return;
        conn.reason = `login: ${err.message}`;
        conn.socket.destroy();
      },
    );
  }

  /**
   * CoreShowChannels after each login. The resync is emitted synchronously when the list
   * completes, so it lands at its place in the event stream: events that follow the list
   * in the same TCP chunk are handled after it, never before.
   */
  private resync(conn: Conn): void {
    this.send(conn, { Action: 'CoreShowChannels' }, ({ response, events }) => {
      if (this.conn !== conn) return;
      if (response.Response === 'Success') {
        this.safeEmit('resync', events.filter((e) => e.Event === 'CoreShowChannel'));
      } else {
        // e.g. the AMI user lacks the permission: live calls cannot be resynchronised
        this.log.warn({ message: response.Message }, 'AMI CoreShowChannels refused: no resync of live channels');
      }
      this.safeEmit('connected');
    }).catch((err: Error) => {
      if (this.conn !== conn || conn.socket.destroyed) return;
      conn.reason = `resync: ${err.message}`;
      conn.socket.destroy();
    });
  }

  private startPing(conn: Conn): void {
    conn.pingTimer = setInterval(() => {
      if (conn.pingInFlight || this.conn !== conn) return;
      conn.pingInFlight = true;
      const sentAt = Date.now();
      this.send(conn, { Action: 'Ping' }).then(
        () => {
          conn.pingInFlight = false;
        },
        (err: Error) => {
          conn.pingInFlight = false;
          if (this.conn !== conn || conn.socket.destroyed) return;
          // bytes kept coming: the reply is behind a backlog, the PBX is alive
          if (conn.lastByteAt > sentAt) return;
          conn.reason = `keepalive Ping failed: ${err.message}`;
          conn.socket.destroy();
        },
      );
    }, this.opts.pingIntervalMs);
  }

  private onClose(conn: Conn): void {
    if (conn.bannerTimer) clearTimeout(conn.bannerTimer);
    if (conn.pingTimer) clearInterval(conn.pingTimer);
    const wasLoggedIn = conn.loggedIn;
    conn.loggedIn = false;
    this.counters.skippedEvents += conn.framer.skipped;
    if (this.conn === conn) this.conn = null;
    const reason = conn.reason ?? conn.error ?? 'connection closed';
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new Error(`AMI connection to ${this.opts.name} at ${this.where} lost (${reason}) before the response to ${p.action}`));
    }
    if (this.stopped) {
      if (wasLoggedIn) {
        this.log.info(`AMI disconnected from ${this.opts.name} at ${this.where}: stopped`);
        this.safeEmit('disconnected', 'stopped');
      }
      return;
    }
    const delay = backoffDelay(this.attempt++, this.opts.backoff);
    if (wasLoggedIn) {
      this.log.warn({ reason, retry_in_ms: delay }, `AMI disconnected from ${this.opts.name} at ${this.where}: ${reason}`);
      this.safeEmit('disconnected', reason);
    } else {
      this.log.warn({ reason, retry_in_ms: delay, attempt: this.attempt }, `AMI connection to ${this.opts.name} at ${this.where} failed: ${reason}`);
    }
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
