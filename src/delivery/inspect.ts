/**
 * Troubleshooting the outbox from the command line (`callhook deliveries`, `callhook
 * replay`): list deliveries with every attempt (HTTP status, latency, error, first bytes
 * of the response) and re-queue deliveries. Works on the store of a stopped daemon; a
 * running daemon notices re-queued rows within about a second.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { callMatch, StorageError, dbFileFor, describeStorageError, queryDeliveries, type DeliveryWithAttempts, type ListOptions } from './outbox.js';

export type { DeliveryWithAttempts, ListOptions } from './outbox.js';

export interface ReplayOptions {
  webhook: string;
  /** a call key or a payload's call_id, as in ListOptions */
  callId?: string;
  since?: number;
  /** only dead deliveries */
  dead?: boolean;
}

function openStore(dbPath: string, readonly: boolean): Database.Database {
  const file = dbFileFor(dbPath);
  if (!existsSync(file)) throw new StorageError(`no delivery store at ${file}`, file);
  try {
    const db = new Database(file, { readonly, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT 1 FROM deliveries LIMIT 1').get();
    return db;
  } catch (err) {
    throw new StorageError(`cannot open ${file}: ${describeStorageError(err)}`, file, err);
  }
}

/** deliveries matching the filters, oldest first, each with its attempts */
export function listDeliveries(dbPath: string, opts: ListOptions = {}): DeliveryWithAttempts[] {
  const db = openStore(dbPath, true);
  try {
    return queryDeliveries(db, opts);
  } finally {
    db.close();
  }
}

/** re-queues matching deliveries as pending now, with a fresh retry schedule; returns how many */
export function replay(dbPath: string, opts: ReplayOptions, now = Date.now()): number {
  if (opts.callId === undefined && opts.since === undefined && !opts.dead) {
    throw new Error('replay needs a call id, a since time or dead: true (refusing to re-send everything)');
  }
  const db = openStore(dbPath, false);
  try {
    const where = ['webhook = ?'];
    const args: unknown[] = [opts.webhook];
    if (opts.callId !== undefined) {
      const m = callMatch(opts.callId);
      where.push(m.sql);
      args.push(...m.args);
    }
    if (opts.since !== undefined) {
      where.push('created_at >= ?');
      args.push(opts.since);
    }
    if (opts.dead) where.push("status = 'dead'");
    const info = db
      .prepare(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, retry_from = attempts, delivered_at = NULL
          WHERE ${where.join(' AND ')}`,
      )
      .run(now, ...args);
    return info.changes;
  } finally {
    db.close();
  }
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

/** a readable table: one line per attempt (a delivery not yet tried gets one line) */
export function formatDeliveries(rows: DeliveryWithAttempts[]): string {
  const header = ['ID', 'CREATED', 'WEBHOOK', 'CALL', 'EVENT', 'STATE', 'TRY', 'AT', 'HTTP', 'MS', 'ERROR / RESPONSE'];
  const lines: string[][] = [];
  for (const r of rows) {
    const base = [String(r.id), iso(r.created_at), r.webhook, r.call_key, r.event_name, r.status];
    if (r.history.length === 0) {
      lines.push([...base, '-', r.status === 'dead' ? '-' : `next ${iso(r.next_attempt_at)}`, '-', '-', '']);
      continue;
    }
    for (const a of r.history) {
      const detail = [a.error, a.response ? JSON.stringify(a.response.slice(0, 80)) : null].filter(Boolean).join(' ');
      lines.push([...base, String(a.attempt), iso(a.at), a.status === null ? '-' : String(a.status), a.ms === null ? '-' : String(a.ms), detail]);
    }
  }
  if (lines.length === 0) return '(no deliveries match)';
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cols: string[]) =>
    cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [fmt(header), ...lines.map(fmt)].join('\n');
}
