/**
 * Logs: pino, one JSON line per happening on stdout for journald. Secrets are redacted
 * by key wherever they appear in a logged object; the code also never logs them on
 * purpose (configs are logged through `summarizeConfig`, never whole).
 */
import { fstatSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/types.js';

export const REDACT_PATHS = [
  'secret',
  'password',
  'signing_secret',
  'token',
  'authorization',
  'Authorization',
  '*.secret',
  '*.password',
  '*.signing_secret',
  '*.token',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'headers',
  '*.headers',
];

export interface LoggerOptions {
  level?: string;
  /** human-readable output for a terminal (needs the pino-pretty package) */
  pretty?: boolean;
  /** write here instead of stdout (fd or stream) */
  destination?: pino.DestinationStream;
}

/** pino-pretty's options for `run --pretty` and `callhook logs`: one line per event or delivery, colours only on a terminal */
export function prettyOptions() {
  const colorize = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  // (errors inline too: no multi-line stack blocks)
  return { colorize, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', errorLikeObjectKeys: [] as string[] };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: 'callhook' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: prettyOptions() } });
  if (opts.destination) return pino(base, opts.destination);
  // under systemd, stdout is a journal stream: a <N> prefix gives each line its priority, so
  // `journalctl -p err` filters (journald strips the prefix; the line stays one JSON object)
  const out = bufferedStdout();
  return stdoutIsJournal() ? pino(base, journalDestination(out)) : pino(base, out);
}

/**
 * Lines are written in batches (4 KiB, or every 100 ms, and at exit), not one write(2) per
 * line: a busy daemon logs a line per delivery. A kill -9 can lose the last 100 ms of lines.
 */
export function bufferedStdout(dest: number | string = 1): pino.DestinationStream & { flushSync(): void } {
  const out = pino.destination({ dest, sync: false, minLength: 4096 });
  const timer = setInterval(() => out.flush(), 100);
  timer.unref();
  process.once('exit', () => {
    try {
      out.flushSync();
    } catch {
      // not open yet, or a write still in progress: nothing more can be done at exit
    }
  });
  return out;
}

/** systemd's way to say stdout is the journal: JOURNAL_STREAM is its device:inode */
function stdoutIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(1);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** syslog priorities of pino's levels: fatal crit, error err, warn warning, info info, debug/trace debug */
const PRIORITY: Record<number, number> = { 60: 2, 50: 3, 40: 4, 30: 6, 20: 7, 10: 7 };

function journalDestination(out: pino.DestinationStream): pino.DestinationStream {
  return {
    write(line: string) {
      const level = /"level":(\d+)/.exec(line);
      out.write(`<${PRIORITY[Number(level?.[1])] ?? 6}>${line}`);
    },
  };
}

/** What a config looks like in a log line: names and targets, no secrets. */
export function summarizeConfig(config: Config): Record<string, unknown> {
  return {
    file: config.file,
    pbx: config.pbx.map((p) => `${p.name} (${p.type} ${p.host}:${p.port})`),
    webhooks: config.webhooks.map((w) => `${w.name}${w.enabled ? '' : ' (disabled)'} -> ${redactUrl(w.url)}`),
    storage: config.storage.path,
  };
}

/** URLs may carry credentials or tokens in their query: keep scheme, host and path. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '[invalid url]';
  }
}
