/**
 * Asterisk Manager Interface (AMI) wire framing: bytes from the TCP socket in, whole AMI
 * messages (events and responses) out; and `formatAction` for the way back.
 *
 * Why our own and not the `asterisk-manager` npm package: it was rejected on reproduced
 * defects: after a `--END COMMAND--` glued to the last output line it swallows every later
 * event until reconnect; it has no action timeouts and silently loses actions sent during an
 * outage; action values can inject CRLF (extra headers / actions); its first reconnect is a
 * fixed 10 s; and it has no event-list (EventList: start ... Complete) support.
 *
 * Wire format: an optional banner line (`Asterisk Call Manager/x.y.z`, first line only),
 * then messages of `Key: value` lines (CRLF; bare LF tolerated) ended by an empty line.
 * Old-style `Response: Follows` command output is raw text up to a `--END COMMAND--`
 * marker (possibly glued to the last output line, possibly with empty lines in between);
 * its lines are kept under the `Output` key.
 *
 * This is the hot path. Bytes are searched in the Buffer for the last LF, only complete
 * lines are decoded (LF is never inside a multi-byte UTF-8 sequence, so a character split
 * across TCP chunks is never decoded half), and lines are cut with indexOf on the decoded
 * string: no per-line regex, no re-concatenation of the whole buffer per chunk.
 */

/**
 * One AMI message. Keys exactly as sent (case kept). A key that repeats in one message
 * (ChanVariable, Output) has its values joined with "\n" (values never contain newlines).
 */
export type AmiMessage = Record<string, string>;

export interface AmiFramerOptions {
  /** a message (or a line) larger than this without a terminator is dropped; default 1 MiB */
  maxMessageBytes?: number;
  /** told about each malformed line (no `: `), after it was counted */
  onMalformed?: (line: string) => void;
  /** told about each dropped oversized message, after it was counted */
  onOversized?: (bytes: number) => void;
  /**
   * Which events to build. An event whose first line names one this rejects is skipped
   * line by line without building its object: on a `read = all` manager user most of the
   * stream (VarSet, Newexten, Cdr, CEL, RTCP...) is events nobody reads. Responses and
   * messages that do not start with `Event:` are always built. Default: every event.
   */
  keepEvent?: (name: string) => boolean;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const END_COMMAND = '--END COMMAND--';

export class AmiFramer {
  /** lines without `: ` that were skipped (the rest of their message is kept) */
  malformed = 0;
  /** messages dropped because they grew past maxMessageBytes without a terminator */
  oversized = 0;
  /** events skipped by keepEvent */
  skipped = 0;

  private readonly max: number;
  private readonly onMalformed?: (line: string) => void;
  private readonly onOversized?: (bytes: number) => void;
  private readonly keepEvent?: (name: string) => boolean;

  private bannerLine: string | null = null;
  private firstLineDone = false;

  /** bytes of the trailing incomplete line */
  private pending: Buffer[] = [];
  private pendingLen = 0;

  /** the message being built, and its size so far */
  private cur: AmiMessage | null = null;
  private curBytes = 0;

  /** the tail of a dropped oversized line is still to come (skip up to the next LF) */
  private discardLine = false;
  /** skip lines up to the next empty line (rest of a dropped oversized message) */
  private discardMsg = false;

  /** inside an old-style `Response: Follows` message */
  private follows = false;
  private followsBody = false;
  private followsBlank = 0;
  private followsOutput: string[] = [];

  constructor(opts: AmiFramerOptions = {}) {
    this.max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.onMalformed = opts.onMalformed;
    this.onOversized = opts.onOversized;
    this.keepEvent = opts.keepEvent;
  }

  /** The banner line (e.g. `Asterisk Call Manager/13.0.0`), once received; else null. */
  get banner(): string | null {
    return this.bannerLine;
  }

  /** Bytes held for a line not yet complete. */
  get bufferedBytes(): number {
    return this.pendingLen + this.curBytes;
  }

  /** Feed the next bytes; returns the messages completed by them, in order. */
  push(chunk: Buffer): AmiMessage[] {
    const out: AmiMessage[] = [];
    const n = chunk.length;
    if (n === 0) return out;
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl === -1) {
      if (!this.discardLine) {
        this.pending.push(Buffer.from(chunk));
        this.pendingLen += n;
        this.checkPendingSize();
      }
      return out;
    }
    let text: string;
    if (this.pendingLen > 0) {
      this.pending.push(chunk.subarray(0, lastNl + 1));
      text = Buffer.concat(this.pending, this.pendingLen + lastNl + 1).toString('utf8');
      this.pending = [];
      this.pendingLen = 0;
    } else {
      text = chunk.toString('utf8', 0, lastNl + 1);
    }
    if (lastNl + 1 < n) {
      // copy: the caller may reuse its buffer
      this.pending.push(Buffer.from(chunk.subarray(lastNl + 1)));
      this.pendingLen = n - lastNl - 1;
    }
    this.parseLines(text, out);
    if (this.pendingLen > 0) this.checkPendingSize();
    return out;
  }

  /** `text` holds only complete lines (it ends with LF). */
  private parseLines(text: string, out: AmiMessage[]): void {
    const len = text.length;
    let pos = 0;
    // position of the next ': ' at or after pos (-1: none left in text; -2: not searched yet)
    let sep = -2;
    while (pos < len) {
      const nl = text.indexOf('\n', pos);
      let end = nl;
      if (end > pos && text.charCodeAt(end - 1) === 13) end--;
      const lineStart = pos;
      pos = nl + 1;

      if (this.discardLine || !this.firstLineDone || this.discardMsg || this.follows) {
        if (this.discardLine) {
          this.discardLine = false;
          continue;
        }
        if (!this.firstLineDone) {
          this.firstLineDone = true;
          const colon = text.indexOf(':', lineStart);
          if (end > lineStart && (colon === -1 || colon >= end)) {
            this.bannerLine = text.slice(lineStart, end);
            continue;
          }
        }
        if (this.discardMsg) {
          if (end === lineStart) this.discardMsg = false;
          continue;
        }
        if (this.follows && this.followsLine(text.slice(lineStart, end), out)) continue;
      }

      if (end === lineStart) {
        if (this.cur !== null) {
          out.push(this.cur);
          this.cur = null;
          this.curBytes = 0;
        }
        continue;
      }

      if (sep === -2 || (sep !== -1 && sep < lineStart)) sep = text.indexOf(': ', lineStart);
      let key: string;
      let value: string;
      if (sep !== -1 && sep < end) {
        key = text.slice(lineStart, sep);
        value = text.slice(sep + 2, end);
      } else if (end - 1 > lineStart && text.charCodeAt(end - 1) === 58 /* ':' */) {
        // `Key:` with an empty value and no trailing space
        key = text.slice(lineStart, end - 1);
        value = '';
      } else {
        this.malformedLine(text.slice(lineStart, end));
        continue;
      }
      if (key === '__proto__') {
        this.malformedLine(text.slice(lineStart, end));
        continue;
      }

      let cur = this.cur;
      if (cur === null) {
        if (key === 'Event' && this.keepEvent !== undefined && !this.keepEvent(value)) {
          this.skipped++;
          this.discardMsg = true;
          continue;
        }
        cur = this.cur = {};
        if (key === 'Response' && value === 'Follows') {
          this.follows = true;
          this.followsBody = false;
          this.followsBlank = 0;
          this.followsOutput = [];
        }
      }
      const prev = cur[key];
      if (prev === undefined || !Object.hasOwn(cur, key)) cur[key] = value;
      else cur[key] = prev + '\n' + value;
      this.curBytes += end - lineStart + 2;
      if (this.curBytes > this.max) this.dropOversized(this.curBytes);
    }
  }

  /**
   * One line inside a `Response: Follows` message. Returns false when the line is not
   * part of it (the body ended without its marker) and must be parsed as a new message.
   */
  private followsLine(line: string, out: AmiMessage[]): boolean {
    if (line.endsWith(END_COMMAND)) {
      this.flushFollowsBlanks();
      const glued = line.slice(0, line.length - END_COMMAND.length);
      if (glued.length > 0) this.followsOutput.push(glued);
      this.finishFollows(out);
      return true;
    }
    if (line.length === 0) {
      this.followsBlank++;
      this.curBytes += 2;
      if (this.curBytes > this.max) this.dropOversized(this.curBytes);
      return true;
    }
    if (this.followsBlank > 0 && (line.startsWith('Event: ') || line.startsWith('Response: '))) {
      // An empty line then a new message: the body ended without --END COMMAND--.
      this.malformedLine('Response: Follows message ended without --END COMMAND--');
      this.finishFollows(out);
      return false;
    }
    this.curBytes += line.length + 2;
    if (!this.followsBody && this.followsBlank === 0 && (line.startsWith('Privilege: ') || line.startsWith('ActionID: '))) {
      const sep = line.indexOf(': ');
      const key = line.slice(0, sep);
      const cur = this.cur as AmiMessage;
      const prev = Object.hasOwn(cur, key) ? cur[key] : undefined;
      cur[key] = prev === undefined ? line.slice(sep + 2) : prev + '\n' + line.slice(sep + 2);
    } else {
      this.followsBody = true;
      this.flushFollowsBlanks();
      this.followsOutput.push(line);
    }
    if (this.curBytes > this.max) this.dropOversized(this.curBytes);
    return true;
  }

  private flushFollowsBlanks(): void {
    for (; this.followsBlank > 0; this.followsBlank--) this.followsOutput.push('');
  }

  private finishFollows(out: AmiMessage[]): void {
    const cur = this.cur as AmiMessage;
    if (this.followsOutput.length > 0) {
      const text = this.followsOutput.join('\n');
      cur.Output = Object.hasOwn(cur, 'Output') ? cur.Output + '\n' + text : text;
    }
    out.push(cur);
    this.cur = null;
    this.curBytes = 0;
    this.resetFollows();
  }

  private resetFollows(): void {
    this.follows = false;
    this.followsBody = false;
    this.followsBlank = 0;
    this.followsOutput = [];
  }

  private malformedLine(line: string): void {
    this.malformed++;
    this.onMalformed?.(line);
  }

  private checkPendingSize(): void {
    const total = this.pendingLen + this.curBytes;
    if (total <= this.max) return;
    this.pending = [];
    this.pendingLen = 0;
    this.discardLine = true;
    this.dropOversized(total);
  }

  private dropOversized(bytes: number): void {
    this.cur = null;
    this.curBytes = 0;
    this.resetFollows();
    this.discardMsg = true;
    this.oversized++;
    this.onOversized?.(bytes);
  }
}

/**
 * Build the wire text of one action: `Key: value` CRLF lines and an empty line.
 * Throws when a key or value holds CR or LF (that would inject headers or whole actions),
 * or when a key is empty or holds `:`. The error names the key, never the value (it may be
 * a secret).
 */
export function formatAction(fields: Record<string, string>): string {
  let text = '';
  let count = 0;
  for (const key of Object.keys(fields)) {
    const raw: unknown = fields[key];
    if (raw === undefined) continue;
    const value = String(raw);
    if (key.length === 0 || /[\r\n:]/.test(key)) {
      throw new Error(`AMI action field name ${JSON.stringify(key)} is invalid: empty, or holds CR, LF or ':' (refused to prevent header injection)`);
    }
    if (value.includes('\r') || value.includes('\n')) {
      throw new Error(`AMI action field "${key}" holds a CR or LF character in its value (refused to prevent header injection)`);
    }
    text += key + ': ' + value + '\r\n';
    count++;
  }
  if (count === 0) throw new Error('AMI action has no fields');
  return text + '\r\n';
}
