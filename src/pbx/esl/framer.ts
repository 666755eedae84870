/**
 * FreeSWITCH Event Socket (ESL) framer: turns the raw TCP byte stream into messages.
 *
 * Wire format: a header block of `Name: value` lines ended by an empty line (LF LF), then,
 * when the block has `Content-Length`, exactly that many BYTES of body. Bodies of
 * `text/event-plain` are themselves URL-encoded header lines (plus an optional inner
 * Content-Length body); bodies of `text/event-json` are one JSON object.
 *
 * The buffer is kept as bytes and only complete bodies are decoded, so a multi-byte UTF-8
 * caller name split across TCP reads is never mangled and Content-Length is honoured as a
 * byte count. Malformed input never throws: a bad `%` escape keeps its raw text, a
 * malformed JSON event is counted and passed on with `event: null`, an oversized or
 * unparseable frame is counted and the buffered bytes are dropped (the caller should then
 * reconnect, since ESL has no resync marker).
 *
 * Written by hand instead of using `modesl` (see client.ts for the reasons).
 */

export interface EslMessage {
  /** outer frame headers (Content-Type, Content-Length, Reply-Text, ...) */
  headers: Record<string, string>;
  /** decoded body, null when the frame has none */
  body: string | null;
  /**
   * For text/event-plain and text/event-json frames: the event's own headers (the event
   * body, if any, under `_body`, as FreeSWITCH's JSON format does). null when the body was
   * malformed; undefined for frames that are not events.
   */
  event?: Record<string, string> | null;
}

export interface EslFramerStats {
  /** complete frames returned */
  messages: number;
  /** event bodies that could not be parsed (malformed JSON, not an object) */
  malformedEvents: number;
  /** header blocks without a usable Content-Length, or over the size limits: buffer dropped */
  framingErrors: number;
  /** plain-event values with an invalid %-escape, kept raw */
  badEscapes: number;
  /** events not decoded because keepEvent rejected them */
  skipped: number;
}

export interface EslFramerOptions {
  /** largest header block in bytes (default 64 KiB) */
  maxHeaderBytes?: number;
  /** largest body in bytes (default 16 MiB) */
  maxBodyBytes?: number;
  /**
   * Which events to decode, by Event-Name. Others are recognised from their first bytes and
   * returned with `event: null` without decoding their ~150 headers (counted in stats.skipped).
   * A live connection only receives what it subscribed to; captures of `event plain ALL`
   * hold much more. Default: every event.
   */
  keepEvent?: (name: string) => boolean;
  /**
   * Which headers of a `text/event-plain` event to decode (default: all). The others are
   * passed over without slicing or URL-decoding them: an event carries ~150 headers and the
   * translator reads ~50 (ESL_HEADERS_USED). The inner body (`_body`) and its Content-Length
   * are always kept.
   * `text/event-json` events are parsed whole: JSON.parse is native and cannot pick.
   */
  keepHeaders?: Iterable<string>;
}

const LF = 0x0a;

export class EslFramer {
  readonly stats: EslFramerStats = { messages: 0, malformedEvents: 0, framingErrors: 0, badEscapes: 0, skipped: 0 };
  private readonly keepEvent?: (name: string) => boolean;
  private readonly pick?: HeaderPick;
  private readonly maxHeaderBytes: number;
  private readonly maxBodyBytes: number;
  /** buffered bytes not yet returned as messages */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** bytes needed before parsing can make progress (skip concat until then) */
  private need = 0;
  /** headers of a frame whose body is still incomplete */
  private pendingHeaders: Record<string, string> | null = null;
  private pendingBodyLen = 0;
  /** last error, for the caller's log line */
  lastError: string | null = null;

  constructor(opts: EslFramerOptions = {}) {
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
    this.maxBodyBytes = opts.maxBodyBytes ?? 16 * 1024 * 1024;
    this.keepEvent = opts.keepEvent;
    if (opts.keepHeaders !== undefined) this.pick = headerPick(opts.keepHeaders);
  }

  /** Bytes currently buffered (bounded by the header/body limits). */
  get buffered(): number {
    return this.partsLen;
  }

  push(chunk: Buffer): EslMessage[] {
    if (chunk.length === 0) return [];
    if (this.partsLen + chunk.length < this.need) {
      this.parts.push(chunk);
      this.partsLen += chunk.length;
      return [];
    }
    const buf = this.parts.length === 0 ? chunk : Buffer.concat([...this.parts, chunk], this.partsLen + chunk.length);
    this.parts = [];
    this.partsLen = 0;
    this.need = 0;

    const out: EslMessage[] = [];
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      if (this.pendingHeaders === null) {
        // skip stray blank lines between frames
        while (pos < len && buf[pos] === LF) pos++;
        if (pos >= len) break;
        const end = buf.indexOf('\n\n', pos, 'latin1');
        if (end === -1) {
          if (len - pos > this.maxHeaderBytes) {
            this.fail(`header block over ${this.maxHeaderBytes} bytes without an end`);
            return out;
          }
          this.need = len - pos + 1;
          break;
        }
        const headers = parseOuterHeaders(buf.toString('utf8', pos, end));
        pos = end + 2;
        const cl = headers['Content-Length'];
        if (cl === undefined) {
          out.push({ headers, body: null });
          this.stats.messages++;
          continue;
        }
        const n = /^\d+$/.test(cl) ? Number(cl) : NaN;
        if (!Number.isSafeInteger(n) || n > this.maxBodyBytes) {
          this.fail(`bad Content-Length ${JSON.stringify(cl.slice(0, 40))}`);
          return out;
        }
        this.pendingHeaders = headers;
        this.pendingBodyLen = n;
      }
      // body
      const n = this.pendingBodyLen;
      if (len - pos < n) {
        this.need = n - (len - pos);
        break;
      }
      const headers = this.pendingHeaders!;
      this.pendingHeaders = null;
      const body = buf.toString('utf8', pos, pos + n);
      pos += n;
      out.push(this.makeMessage(headers, body));
      this.stats.messages++;
    }
    if (pos < len) {
      const rest = buf.subarray(pos);
      this.parts.push(rest);
      this.partsLen = rest.length;
      // `need` is relative to the buffered bytes
      if (this.pendingHeaders !== null) this.need = this.pendingBodyLen;
      else this.need = Math.max(this.need, rest.length + 1);
    }
    return out;
  }

  /** Forget all buffered bytes (after a reconnect). */
  reset(): void {
    this.parts = [];
    this.partsLen = 0;
    this.need = 0;
    this.pendingHeaders = null;
    this.pendingBodyLen = 0;
  }

  private fail(reason: string): void {
    this.stats.framingErrors++;
    this.lastError = reason;
    this.reset();
  }

  private makeMessage(headers: Record<string, string>, body: string): EslMessage {
    const type = headers['Content-Type'];
    if (this.keepEvent !== undefined && (type === 'text/event-plain' || type === 'text/event-json')) {
      const name = eventNameOf(body, type === 'text/event-json');
      if (name !== null && !this.keepEvent(name)) {
        this.stats.skipped++;
        return { headers, body, event: null };
      }
    }
    if (type === 'text/event-plain') {
      const ev = parsePlainEvent(body, this.stats, this.pick);
      if (ev === null) this.stats.malformedEvents++;
      return { headers, body, event: ev };
    }
    if (type === 'text/event-json') {
      let ev: Record<string, string> | null = null;
      try {
        const v: unknown = JSON.parse(body);
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) ev = v as Record<string, string>;
      } catch {
        ev = null;
      }
      if (ev === null) this.stats.malformedEvents++;
      return { headers, body, event: ev };
    }
    return { headers, body };
  }
}

/** Event-Name of an undecoded event body, found without parsing it (null: not found). */
function eventNameOf(body: string, json: boolean): string | null {
  const key = json ? '"Event-Name":"' : 'Event-Name: ';
  const at = body.indexOf(key);
  if (at === -1) return null;
  const from = at + key.length;
  const end = body.indexOf(json ? '"' : '\n', from);
  return end === -1 ? null : body.slice(from, end);
}

/** The event headers of an event message (plain or json), or null. */
export function eventOf(msg: EslMessage): Record<string, string> | null {
  return msg.event ?? null;
}

/** Outer header block: plain `Name: value` lines, not URL-encoded. */
function parseOuterHeaders(text: string): Record<string, string> {
  const h: Record<string, string> = {};
  let start = 0;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl === -1) nl = text.length;
    const colon = text.indexOf(':', start);
    if (colon !== -1 && colon < nl) {
      const v = text.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1;
      h[text.slice(start, colon)] = text.slice(v, nl);
    }
    start = nl + 1;
  }
  return h;
}

/**
 * The header names to keep, by length: a line's name is compared in place (startsWith at
 * its offset) with the few kept names of its length, so a header that is not kept costs no
 * string and no hashing.
 */
type HeaderPick = (readonly string[] | undefined)[];

function headerPick(names: Iterable<string>): HeaderPick {
  const byLen: string[][] = [];
  // the inner body's length is needed to cut `_body`
  for (const name of new Set([...names, 'Content-Length'])) (byLen[name.length] ??= []).push(name);
  return byLen;
}

/**
 * Plain event body: URL-encoded `Name: value` lines, then optionally an empty line and an
 * inner body (its length in the inner Content-Length header, not URL-encoded). Never throws.
 * Only values containing `%` are decoded (one decodeURIComponent each; decoding the whole
 * block at once was measured slower, because building the ~150-key object dominates).
 * With `pick`, only the headers it names are kept (see EslFramerOptions.keepHeaders).
 */
export function parsePlainEvent(text: string, stats?: EslFramerStats, pick?: HeaderPick): Record<string, string> | null {
  const h: Record<string, string> = {};
  let start = 0;
  const len = text.length;
  let any = false;
  while (start < len) {
    let nl = text.indexOf('\n', start);
    if (nl === -1) nl = len;
    if (nl === start) {
      // empty line: the rest is the event body
      const bodyStart = start + 1;
      if (bodyStart < len) {
        const cl = h['Content-Length'];
        const n = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : len - bodyStart;
        h._body = text.slice(bodyStart, bodyStart + n);
      }
      break;
    }
    const colon = text.indexOf(': ', start);
    if (colon !== -1 && colon < nl) {
      any = true;
      let name: string | undefined;
      if (pick === undefined) name = text.slice(start, colon);
      else {
        const names = pick[colon - start];
        if (names !== undefined) for (const n of names) if (text.startsWith(n, start)) { name = n; break; }
      }
      if (name !== undefined) {
        const raw = text.slice(colon + 2, nl);
        h[name] = raw.indexOf('%') === -1 ? raw : urlDecode(raw, stats);
      }
    }
    start = nl + 1;
  }
  return any ? h : null;
}

function urlDecode(raw: string, stats?: EslFramerStats): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    if (stats) stats.badEscapes++;
    return raw;
  }
}
