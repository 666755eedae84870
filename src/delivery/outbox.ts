/**
 * The durable outbox: every rendered delivery is committed to SQLite (WAL) before its
 * first attempt, and every attempt's outcome is written back, so a crash or restart loses
 * nothing that enqueue() accepted once its batch was flushed. Enqueues are group-committed:
 * appended to an in-memory batch that is written in one transaction at the end of the
 * event-loop turn's I/O (or at once when it reaches BATCH_MAX rows, or when someone is about
 * to observe it: flush()): one transaction per turn, however many socket reads it had.
 * Listeners (the dispatcher) only see rows after their transaction committed.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CATCH_UP_PAGES, Checkpointer } from './checkpointer.js';
import type { DeliveryStatus, RenderedDelivery } from './types.js';

export const DB_FILE_NAME = 'callhook.db';
/** a batch is flushed at once when it reaches this many rows */
export const BATCH_MAX = 500;
/**
 * attempt outcomes are written together at most this long after the first of them (or at
 * once at BATCH_MAX, at a read, and at close): one transaction for many outcomes. A crash
 * in between sends those deliveries again (at least once, same ids).
 */
export const ATTEMPT_WRITE_MS = 20;
/** bytes of a response body kept with a delivery / attempt */
export const RESPONSE_SNIPPET_BYTES = 256;
/** SQLite's autocheckpoint, where the checkpoint thread does not run: every 16 MB of WAL */
const AUTOCHECKPOINT_PAGES = 4000;

/** The storage cannot be used: message names the path and what is wrong. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(message: string, readonly path: string, override readonly cause?: unknown) {
    super(message);
  }
}

/** One row of the `deliveries` table. */
export interface DeliveryRow {
  id: number;
  event_id: string;
  webhook: string;
  call_key: string;
  event_name: string;
  method: 'POST' | 'GET';
  url: string;
  body: string | null;
  content_type: string | null;
  /** amqp sinks: message headers as JSON */
  headers: string | null;
  created_at: number;
  status: DeliveryStatus;
  /** attempts made so far (all time) */
  attempts: number;
  /** attempts made before the last replay: the retry schedule restarts from here */
  retry_from: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  last_ms: number | null;
  last_response: string | null;
  /** when the last attempt (the one in last_*) was made; null before the first, and in stores made before this column */
  last_attempt_at: number | null;
  delivered_at: number | null;
}

/** One row of the `attempts` table. */
export interface AttemptRow {
  delivery_id: number;
  attempt: number;
  at: number;
  status: number | null;
  ms: number | null;
  error: string | null;
  response: string | null;
}

type Stamped = RenderedDelivery & { createdAt: number };

export interface ListOptions {
  /** a call key ("pbx1:1795268179.0") or a payload's call_id ("1795268179.0") */
  callId?: string;
  webhook?: string;
  /** pending also matches failed (a pending delivery with failed attempts) */
  status?: 'pending' | 'failed' | 'delivered' | 'dead';
  /** epoch ms: only deliveries created at or after */
  since?: number;
  /** the newest N deliveries (default 100) */
  limit?: number;
}

export interface DeliveryWithAttempts extends DeliveryRow {
  history: AttemptRow[];
}

/** a delivery's call id: its call key ("<pbx name>:<call_id>") after the first colon */
const CALL_ID_OF_KEY = "substr(call_key, instr(call_key, ':') + 1)";

/**
 * `--call ID` matches a delivery's call key ("pbx1:1795268179.0", as the CALL column shows it)
 * or the call_id of the payload alone ("1795268179.0"), through the index on the call id.
 */
export function callMatch(callId: string): { sql: string; args: string[] } {
  const colon = callId.indexOf(':');
  if (colon < 0) return { sql: `${CALL_ID_OF_KEY} = ?`, args: [callId] };
  return { sql: `(${CALL_ID_OF_KEY} = ? AND call_key = ?)`, args: [callId.slice(colon + 1), callId] };
}

/** listDeliveries on an open database (the daemon's web view reads its own connection) */
export function queryDeliveries(db: Database.Database, opts: ListOptions = {}): DeliveryWithAttempts[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (opts.callId !== undefined) {
    const m = callMatch(opts.callId);
    where.push(m.sql);
    args.push(...m.args);
  }
  if (opts.webhook !== undefined) {
    where.push('webhook = ?');
    args.push(opts.webhook);
  }
  if (opts.status === 'pending') {
    where.push("status IN ('pending', 'failed')");
  } else if (opts.status !== undefined) {
    where.push('status = ?');
    args.push(opts.status);
  }
  if (opts.since !== undefined) {
    where.push('created_at >= ?');
    args.push(opts.since);
  }
  const sql = `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
  const rows = db.prepare(sql).all(...args, opts.limit ?? 100) as DeliveryRow[];
  rows.reverse();
  const attempts = db.prepare(
    'SELECT delivery_id, attempt, at, status, ms, error, response FROM attempts WHERE delivery_id = ? ORDER BY id',
  );
  return rows.map((r) => ({ ...r, history: historyOf(r, attempts.all(r.id) as AttemptRow[]) }));
}

/** the superseded attempts, then the last one (kept in the delivery's own row) */
function historyOf(r: DeliveryRow, superseded: AttemptRow[]): AttemptRow[] {
  // (undefined: a store the daemon has not opened since the column came)
  if (r.last_attempt_at == null || r.attempts === 0) return superseded;
  superseded.push({ delivery_id: r.id, attempt: r.attempts, at: r.last_attempt_at, status: r.last_status, ms: r.last_ms, error: r.last_error, response: r.last_response });
  return superseded;
}


/** One row of `call_events`: a call's canonical event as the tracker emitted it (the web view's timeline). */
export interface CallEventRow {
  id: number;
  call_key: string;
  /** when it was taken in (epoch ms, this host's clock) */
  at: number;
  /** the canonical event, JSON */
  body: string;
}

/** a call in the history: its key and when callhook first and last took in one of its events */
export interface RecentCall {
  call_key: string;
  first_at: number;
  last_at: number;
  events: number;
}

/** a row of the calls-in-progress state, written with the deliveries of the same turn (null state: delete) */
export interface StateRow {
  pbx: string;
  key: string;
  state: string | null;
}

export interface OutboxOptions {
  /** the storage directory (`storage.path`); the database is `callhook.db` inside */
  path: string;
  sync?: 'normal' | 'full';
  /** delivered rows older than this are pruned by prune() (default 7 days) */
  retentionMs?: number;
  logger?: Logger;
  now?: () => number;
}

export interface PendingStats {
  pending: number;
  oldestCreatedAt: number | null;
  byWebhook: Record<string, number>;
}

// (ids are rowids, not AUTOINCREMENT: they only grow while the table holds rows, and
// AUTOINCREMENT would write its sqlite_sequence page in every transaction)
const SCHEMA = `
CREATE TABLE IF NOT EXISTS deliveries (
  id              INTEGER PRIMARY KEY,
  event_id        TEXT NOT NULL,
  webhook         TEXT NOT NULL,
  call_key        TEXT NOT NULL,
  event_name      TEXT NOT NULL,
  method          TEXT NOT NULL,
  url             TEXT NOT NULL,
  body            TEXT,
  content_type    TEXT,
  headers         TEXT,
  created_at      INTEGER NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending',
  attempts        INTEGER NOT NULL DEFAULT 0,
  retry_from      INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_status     INTEGER,
  last_error      TEXT,
  last_ms         INTEGER,
  last_response   TEXT,
  last_attempt_at INTEGER,
  delivered_at    INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries(webhook, call_key, id)
  WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries(status, delivered_at);
-- a call's deliveries by its full key or its call id alone (callMatch)
CREATE INDEX IF NOT EXISTS deliveries_call_id ON deliveries(substr(call_key, instr(call_key, ':') + 1));
DROP INDEX IF EXISTS deliveries_call;
-- the attempts a later one superseded (the last one is the delivery's last_* columns)
CREATE TABLE IF NOT EXISTS attempts (
  id          INTEGER PRIMARY KEY,
  delivery_id INTEGER NOT NULL,
  attempt     INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status      INTEGER,
  ms          INTEGER,
  error       TEXT,
  response    TEXT
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts(delivery_id);
CREATE TABLE IF NOT EXISTS call_events (
  id       INTEGER PRIMARY KEY,
  call_key TEXT NOT NULL,
  at       INTEGER NOT NULL,
  body     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_events_call ON call_events(call_key, id);
CREATE TABLE IF NOT EXISTS call_state (
  pbx   TEXT NOT NULL,
  key   TEXT NOT NULL,
  state TEXT NOT NULL,
  UNIQUE (pbx, key)
);
`;

/** `storage.path` (a directory) or a database file path → the database file */
export function dbFileFor(path: string): string {
  try {
    if (statSync(path).isDirectory()) return join(path, DB_FILE_NAME);
  } catch {
    /* not there: treat as a directory name below */
  }
  return path.endsWith('.db') ? path : join(path, DB_FILE_NAME);
}

/** a short human reason for a filesystem or SQLite error */
export function describeStorageError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e?.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'EROFS':
    case 'SQLITE_READONLY':
      return 'read-only (permission denied or read-only file system)';
    case 'ENOSPC':
    case 'SQLITE_FULL':
      return 'no space left on device';
    case 'SQLITE_NOTADB':
      return 'not a database (corrupt, or another kind of file)';
    case 'SQLITE_CORRUPT':
      return 'database is corrupt';
    case 'SQLITE_CANTOPEN':
      return 'unable to open the database file (permission denied or not a directory)';
    default:
      return e?.message ?? String(err);
  }
}

/**
 * Opens (creating if needed) the database file in WAL mode and checks it is writable.
 * Throws StorageError naming the path and the problem.
 */
export function openDatabase(file: string, sync: 'normal' | 'full' = 'normal'): Database.Database {
  let db: Database.Database;
  try {
    // caller data: the file is the daemon's alone, whatever the umask (SQLite gives its -wal
    // and -shm files the database file's mode)
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
    db = new Database(file);
  } catch (err) {
    throw new StorageError(`cannot open ${file}: ${describeStorageError(err)}`, file, err);
  }
  try {
    db.pragma('busy_timeout = 5000');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`cannot switch to WAL journal mode (got ${mode})`);
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    // a checkpoint (the WAL copied into the database, with an fsync) every 16 MB of WAL, not 4
    // (an Outbox turns it off for its checkpoint thread: see checkpointer.ts)
    db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    db.exec(SCHEMA);
    // stores made before amqp sinks: add the headers column
    const columns = db.prepare('PRAGMA table_info(deliveries)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'headers')) db.exec('ALTER TABLE deliveries ADD COLUMN headers TEXT');
    // stores that kept every attempt in `attempts`: their rows stay; new ones keep only the superseded there
    if (!columns.some((c) => c.name === 'last_attempt_at')) db.exec('ALTER TABLE deliveries ADD COLUMN last_attempt_at INTEGER');
    // prove we can write (a read-only file or directory fails here, not on the first event)
    db.exec('BEGIN IMMEDIATE; COMMIT;');
  } catch (err) {
    try {
      db.close();
    } catch {
      /* already broken */
    }
    throw new StorageError(`cannot use ${file}: ${describeStorageError(err)}`, file, err);
  }
  return db;
}

export class Outbox {
  readonly file: string;
  readonly retentionMs: number;
  private readonly db: Database.Database;
  private readonly logger?: Logger;
  private readonly now: () => number;
  /** deliveries not yet committed, stamped with the time they were taken in */
  private batch: Stamped[] = [];
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private listeners: Array<(rows: DeliveryRow[]) => void> = [];
  /** what the pipeline changed of its calls' state since the last commit */
  private stateSource: (() => StateRow[]) | null = null;
  /** state rows taken but not yet written (a failed write) */
  private unwrittenState = new Map<string, StateRow>();
  /** call events not yet written (the history), committed with the deliveries of the same turn */
  private eventBatch: Array<{ callKey: string; at: number; body: string }> = [];
  /** attempt outcomes not yet written: one transaction takes every outcome of an event-loop turn */
  private attemptBatch: Array<{ id: number; attempt: AttemptRow; next: AttemptOutcome }> = [];
  private attemptTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** WAL checkpoints, in a thread of their own */
  private readonly checkpointer: Checkpointer;
  private readonly stmt: ReturnType<typeof prepare>;
  private readonly insertBatch: (ds: Stamped[], state: StateRow[], attempts: Outcome[], events: Array<{ callKey: string; at: number; body: string }>) => DeliveryRow[];
  private readonly pruneTx: (before: number) => number;

  constructor(opts: OutboxOptions) {
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.retentionMs = opts.retentionMs ?? 7 * 24 * 3_600_000;
    try {
      mkdirSync(opts.path, { recursive: true, mode: 0o700 });
      chmodSync(opts.path, 0o700);
    } catch (err) {
      throw new StorageError(`cannot create ${opts.path}: ${describeStorageError(err)}`, opts.path, err);
    }
    this.file = join(opts.path, DB_FILE_NAME);
    this.db = openDatabase(this.file, opts.sync ?? 'normal');
    this.stmt = prepare(this.db);
    this.db.pragma('wal_autocheckpoint = 0');
    // a WAL that grew under a burst is cut back when it starts over
    this.db.pragma(`journal_size_limit = ${CATCH_UP_PAGES * 4096}`);
    this.checkpointer = new Checkpointer({
      file: this.file,
      now: this.now,
      checkpointHere: () => {
        try {
          this.db.pragma('wal_checkpoint(PASSIVE)');
        } catch (err) {
          this.logger?.error({ err: describeStorageError(err), file: this.file }, 'WAL checkpoint failed; trying again after the next commits');
        }
      },
      onFailure: (err) => {
        this.logger?.error({ err, file: this.file }, 'WAL checkpoint thread failed; checkpointing in the commit from now on');
        if (!this.closed) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      },
    });
    const s = this.stmt;

    this.insertBatch = this.db.transaction((ds: Stamped[], state: StateRow[], attempts: Outcome[], events: Array<{ callKey: string; at: number; body: string }>) => {
      for (const e of events) s.insertEvent.run(e.callKey, e.at, e.body);
      for (const { id, attempt: a, next } of attempts) {
        if (a.attempt > 1) s.keepSupersededAttempt.run(id);
        s.updateAfterAttempt.run(
          next.status, a.attempt, next.nextAttemptAt, a.status, a.error, a.ms, a.response, a.at,
          next.status === 'delivered' ? a.at : null, next.paced ? 1 : 0, id,
        );
      }
      for (const r of state) {
        if (r.state === null) s.deleteState.run(r.pbx, r.key);
        else s.putState.run(r.pbx, r.key, r.state);
      }
      const rows: DeliveryRow[] = [];
      for (const d of ds) {
        const info = s.insert.run(
          d.eventId, d.webhook, d.callKey, d.eventName, d.method, d.url, d.body, d.contentType, d.headers ?? null,
          d.createdAt, d.createdAt,
        );
        rows.push({
          id: Number(info.lastInsertRowid), event_id: d.eventId, webhook: d.webhook, call_key: d.callKey,
          event_name: d.eventName, method: d.method, url: d.url, body: d.body, content_type: d.contentType,
          headers: d.headers ?? null, created_at: d.createdAt, status: 'pending', attempts: 0, retry_from: 0, next_attempt_at: d.createdAt,
          last_status: null, last_error: null, last_ms: null, last_response: null, last_attempt_at: null, delivered_at: null,
        });
      }
      return rows;
    });

    this.pruneTx = this.db.transaction((before: number) => {
      s.pruneEvents.run(before);
      s.pruneAttempts.run(before);
      return s.pruneDeliveries.run(before).changes;
    });
  }

  /** called with each committed batch, in id order */
  onCommit(listener: (rows: DeliveryRow[]) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The calls' state travels with the deliveries: each commit takes what `source` says
   * changed and writes it in the same transaction, so the state on disk is always the one
   * that produced the events on disk.
   */
  setStateSource(source: () => StateRow[]): void {
    this.stateSource = source;
  }

  /** the calls-in-progress state, as last committed */
  loadState(): Array<{ pbx: string; key: string; state: string }> {
    return this.stmt.allState.all() as Array<{ pbx: string; key: string; state: string }>;
  }

  /** the state source has changes: commit them when the current callback returns */
  stateChanged(): void {
    if (this.closed) return;
    this.scheduleFlush();
  }

  /** keeps a call's event in the history (the web view), committed with this turn's deliveries */
  recordEvent(callKey: string, body: string): void {
    if (this.closed) return;
    this.eventBatch.push({ callKey, at: this.now(), body });
    if (this.eventBatch.length >= BATCH_MAX) this.flush();
    else this.scheduleFlush();
  }

  /** the calls most recently heard of, newest first (from the last `scan` history rows) */
  recentCalls(limit = 100, scan = 20_000): RecentCall[] {
    this.flush();
    return this.stmt.recentCalls.all(scan, limit) as RecentCall[];
  }

  /** a call's deliveries (every webhook), oldest first, with their attempts */
  callDeliveries(callKey: string, limit = 500): DeliveryWithAttempts[] {
    this.flush();
    return queryDeliveries(this.db, { callId: callKey, limit });
  }

  /** a call's history, in the order it was taken in */
  callEvents(callKey: string): CallEventRow[] {
    this.flush();
    return this.stmt.callEvents.all(callKey) as CallEventRow[];
  }

  /** appends to the current batch; committed when the current callback returns (or now if the batch is full) */
  enqueue(deliveries: RenderedDelivery[]): void {
    if (this.closed) throw new StorageError(`outbox ${this.file} is closed`, this.file);
    if (deliveries.length === 0) return;
    const createdAt = this.now();
    for (const d of deliveries) this.batch.push({ ...d, createdAt });
    if (this.batch.length >= BATCH_MAX) this.flush();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      // at the end of this event-loop turn's I/O: one transaction for every socket read of
      // the turn (a busy PBX hands over many at once, an idle one one). Nothing outside the
      // process sees an event before it is on disk: webhook requests go out from the commit,
      // and the observation points (the HTTP server, the summary line) commit first.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        if (!this.closed) this.flush();
      });
    }
  }

  /** commits the batch now; returns the committed rows. A failed write keeps the batch and retries in 1 s. */
  flush(): DeliveryRow[] {
    for (const r of this.stateSource?.() ?? []) this.unwrittenState.set(`${r.pbx}\0${r.key}`, r);
    if (this.batch.length === 0 && this.unwrittenState.size === 0 && this.attemptBatch.length === 0 && this.eventBatch.length === 0) return [];
    const ds = this.batch;
    const attempts = this.attemptBatch;
    const events = this.eventBatch;
    this.batch = [];
    this.attemptBatch = [];
    this.eventBatch = [];
    let rows: DeliveryRow[];
    try {
      rows = this.insertBatch(ds, [...this.unwrittenState.values()], attempts, events);
      this.unwrittenState.clear();
    } catch (err) {
      this.batch = ds.concat(this.batch);
      this.attemptBatch = attempts.concat(this.attemptBatch);
      this.eventBatch = events.concat(this.eventBatch);
      this.logger?.error(
        { err: describeStorageError(err), file: this.file, batched: this.batch.length },
        'outbox write failed; keeping the batch in memory and retrying',
      );
      if (!this.retryTimer && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.flush();
        }, 1000);
        this.retryTimer.unref();
      }
      return [];
    }
    this.checkpointer.committed();
    for (const l of this.listeners) {
      try {
        l(rows);
      } catch (err) {
        this.logger?.error({ err }, 'outbox listener failed');
      }
    }
    return rows;
  }

  /** deliveries still to send (pending or failed), one entry per (webhook, call_key), oldest first */
  openLanes(): Array<{ webhook: string; call_key: string; first_id: number }> {
    this.writeAttempts();
    return this.stmt.openLanes.all() as Array<{ webhook: string; call_key: string; first_id: number }>;
  }

  /** the oldest `limit` deliveries still to send for (webhook, callKey), in order */
  laneRows(webhook: string, callKey: string, limit: number): DeliveryRow[] {
    this.writeAttempts();
    return this.stmt.laneRows.all(webhook, callKey, limit) as DeliveryRow[];
  }

  /** the oldest delivery still to send for (webhook, callKey) */
  firstInLane(webhook: string, callKey: string): DeliveryRow | undefined {
    return this.laneRows(webhook, callKey, 1)[0];
  }

  get(id: number): DeliveryRow | undefined {
    this.writeAttempts();
    return this.stmt.get.get(id) as DeliveryRow | undefined;
  }

  /**
   * An attempt and the delivery's new state, written with the other outcomes of the next
   * ATTEMPT_WRITE_MS in one transaction (reads of this outbox see it at once). A crash
   * before that write sends the delivery again: at least once, with the same id.
   */
  recordAttempt(id: number, attempt: AttemptRow, next: AttemptOutcome): void {
    if (this.closed) throw new StorageError(`outbox ${this.file} is closed`, this.file);
    this.attemptBatch.push({ id, attempt, next });
    if (this.attemptBatch.length >= BATCH_MAX) {
      this.flush();
      return;
    }
    if (this.attemptTimer) return;
    this.attemptTimer = setTimeout(() => {
      this.attemptTimer = null;
      if (!this.closed) this.flush();
    }, ATTEMPT_WRITE_MS);
  }

  /** writes the outcomes recorded so far (a read must see them) */
  private writeAttempts(): void {
    if (this.attemptBatch.length > 0) this.flush();
  }

  /** deletes delivered rows (and their attempts) delivered before now - retentionMs; dead rows are kept */
  prune(now = this.now()): number {
    this.writeAttempts();
    const removed = this.pruneTx(now - this.retentionMs);
    this.checkpointer.committed();
    return removed;
  }

  pendingStats(): PendingStats {
    this.writeAttempts();
    const rows = this.stmt.pendingByWebhook.all() as Array<{ webhook: string; n: number; oldest: number }>;
    const byWebhook: Record<string, number> = {};
    let pending = 0;
    let oldest: number | null = null;
    for (const r of rows) {
      byWebhook[r.webhook] = r.n;
      pending += r.n;
      if (oldest === null || r.oldest < oldest) oldest = r.oldest;
    }
    return { pending, oldestCreatedAt: oldest, byWebhook };
  }

  /** changes when another connection (e.g. `callhook replay`) commits to the database */
  dataVersion(): number {
    return Number(this.db.pragma('data_version', { simple: true }));
  }

  /** flushes the batch and closes the database */
  close(): void {
    if (this.closed) return;
    this.flushScheduled = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.attemptTimer) clearTimeout(this.attemptTimer);
    this.flush();
    this.closed = true;
    if (this.batch.length > 0) {
      this.logger?.error({ file: this.file, lost: this.batch.length }, 'outbox closed with unwritten deliveries');
    }
    // the thread lets go of its connection; this one's close checkpoints what is left
    this.checkpointer.close();
    this.db.close();
  }
}

type Outcome = { id: number; attempt: AttemptRow; next: AttemptOutcome };

export interface AttemptOutcome {
  status: DeliveryStatus;
  nextAttemptAt: number;
  /** a receiver's pacing (429 with Retry-After): the attempt does not use up a step of the retry schedule */
  paced?: boolean;
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO deliveries (event_id, webhook, call_key, event_name, method, url, body, content_type,
         headers, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // the attempt a new one supersedes moves from the delivery's last_* to `attempts`
    keepSupersededAttempt: db.prepare(
      `INSERT INTO attempts (delivery_id, attempt, at, status, ms, error, response)
         SELECT id, attempts, last_attempt_at, last_status, last_ms, last_error, last_response FROM deliveries
          WHERE id = ? AND last_attempt_at IS NOT NULL`,
    ),
    updateAfterAttempt: db.prepare(
      `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?,
         last_ms = ?, last_response = ?, last_attempt_at = ?, delivered_at = ?, retry_from = retry_from + ? WHERE id = ?`,
    ),
    openLanes: db.prepare(
      `SELECT webhook, call_key, MIN(id) AS first_id FROM deliveries
        WHERE status IN ('pending', 'failed') GROUP BY webhook, call_key ORDER BY first_id`,
    ),
    laneRows: db.prepare(
      `SELECT * FROM deliveries WHERE webhook = ? AND call_key = ? AND status IN ('pending', 'failed')
        ORDER BY id LIMIT ?`,
    ),
    get: db.prepare('SELECT * FROM deliveries WHERE id = ?'),
    putState: db.prepare('INSERT INTO call_state (pbx, key, state) VALUES (?, ?, ?) ON CONFLICT (pbx, key) DO UPDATE SET state = excluded.state'),
    deleteState: db.prepare('DELETE FROM call_state WHERE pbx = ? AND key = ?'),
    allState: db.prepare('SELECT pbx, key, state FROM call_state'),
    pendingByWebhook: db.prepare(
      `SELECT webhook, COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries
        WHERE status IN ('pending', 'failed') GROUP BY webhook`,
    ),
    pruneAttempts: db.prepare(
      `DELETE FROM attempts WHERE delivery_id IN
         (SELECT id FROM deliveries WHERE status = 'delivered' AND delivered_at < ?)`,
    ),
    insertEvent: db.prepare('INSERT INTO call_events (call_key, at, body) VALUES (?, ?, ?)'),
    callEvents: db.prepare('SELECT id, call_key, at, body FROM call_events WHERE call_key = ? ORDER BY id'),
    recentCalls: db.prepare(
      `SELECT call_key, MIN(at) AS first_at, MAX(at) AS last_at, COUNT(*) AS events, MAX(id) AS last_id
         FROM (SELECT * FROM call_events ORDER BY id DESC LIMIT ?) GROUP BY call_key ORDER BY last_id DESC LIMIT ?`,
    ),
    // the history of calls last heard of before the retention (ids grow with time)
    pruneEvents: db.prepare(
      `DELETE FROM call_events WHERE call_key IN
         (SELECT call_key FROM call_events GROUP BY call_key HAVING MAX(at) < ?)`,
    ),
    pruneDeliveries: db.prepare(`DELETE FROM deliveries WHERE status = 'delivered' AND delivered_at < ?`),
  };
}
