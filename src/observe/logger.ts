/**
 * Logs: pino, one JSON line per happening on stdout for journald. Secrets are redacted
 * by key wherever they appear in a logged object; the code also never logs them on
 * purpose (configs are logged through `summarizeConfig`, never whole).
 */
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

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: 'callhook' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.pretty) {
    // one line per event or delivery, for a person tailing it; colours only on a terminal
    const colorize = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
    const options = { colorize, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' };
    return pino({ ...base, transport: { target: 'pino-pretty', options } });
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
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
