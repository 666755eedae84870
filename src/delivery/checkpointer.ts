/**
 * WAL checkpoints off the event loop. A checkpoint copies the WAL into the database file
 * and fsyncs it: done by SQLite's autocheckpoint it runs inside a commit on the daemon's
 * thread, a 15-30 ms stall every few thousand pages in which no frame is read and no
 * webhook sent. So the outbox's own connection has autocheckpoint off and this worker
 * thread, with a connection of its own, runs a PASSIVE checkpoint (it never blocks the
 * writer) when the outbox asks, at most every CHECKPOINT_EVERY_MS after a commit.
 *
 * A checkpoint by another connection under a steady writer never catches the WAL's end
 * (the writer adds frames while it copies and fsyncs), and SQLite starts the WAL over only
 * once a checkpoint has. So once the WAL holds CATCH_UP_PAGES, the next commit after the
 * worker's checkpoint runs one on the writer's own connection: only the pages written
 * since (2-5 ms with its fsync, every 2 s at 1,000 events/s), and the WAL starts over.
 * If the worker fails, the outbox falls back to autocheckpoint on its own connection.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** at most one checkpoint per this many ms (while commits happen; none when idle) */
export const CHECKPOINT_EVERY_MS = 250;
/** WAL pages (4 KiB: 64 MB) past which the writer's own connection finishes a checkpoint */
export const CATCH_UP_PAGES = 16_000;

// CommonJS, evaluated in the worker: better-sqlite3 is loaded by the path resolved here
// The connection opens at the first checkpoint, so a thread closed before one never touches
// the files; at close it lets go of it, then says so through \`closed\` (the owner waits).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db = null;
parentPort.on('message', (m) => {
  if (m === 'close') {
    try { if (db) db.close(); } finally {
      Atomics.store(workerData.closed, 0, 1);
      Atomics.notify(workerData.closed, 0);
      parentPort.close();
    }
    return;
  }
  try {
    if (!db) { db = new Database(workerData.file); db.pragma('busy_timeout = 5000'); }
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, log: r.log });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String((err && err.message) || err) });
  }
});
`;

/** how long close() waits for the thread to let go of its connection */
const CLOSE_WAIT_MS = 10_000;

export interface CheckpointerOptions {
  file: string;
  /** a PASSIVE checkpoint on the writer's own connection (the catch-up); must not throw */
  checkpointHere(): void;
  /** the worker failed: checkpoints must happen on the caller's connection again */
  onFailure(err: Error): void;
  now?: () => number;
}

export class Checkpointer {
  private readonly worker: Worker;
  private readonly now: () => number;
  private inFlight = false;
  /** the WAL is long: the next commit finishes the checkpoint on the writer's connection */
  private catchUp = false;
  private lastAt = 0;
  private failed = false;
  private closing = false;
  /** set to 1 by the thread once its connection is closed */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly opts: CheckpointerOptions) {
    this.now = opts.now ?? Date.now;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: opts.file, driver, closed: this.closed } });
    // a thread that only ever answers: it must not keep the process alive
    this.worker.unref();
    this.worker.on('message', (m: { ok: true; log: number } | { ok: false; error: string }) => {
      this.inFlight = false;
      if (!m.ok) return this.fail(new Error(`WAL checkpoint failed: ${m.error}`));
      // (log: the WAL's pages when the checkpoint began)
      this.catchUp = m.log >= CATCH_UP_PAGES;
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`WAL checkpoint thread exited (${code})`));
    });
  }

  /** after a commit: asks for a checkpoint unless one is running or one ran moments ago */
  committed(): void {
    if (this.failed || this.closing || this.inFlight) return;
    if (this.catchUp) {
      this.catchUp = false;
      this.opts.checkpointHere();
      return;
    }
    const now = this.now();
    if (now - this.lastAt < CHECKPOINT_EVERY_MS) return;
    this.lastAt = now;
    this.inFlight = true;
    this.worker.postMessage('checkpoint');
  }

  /**
   * Closes the thread's connection and ends the thread. Blocks until that connection is
   * closed (at most the checkpoint it is running), so the owner's connection, closed next, is
   * the last one: its close checkpoints what is left, and no file changes after it.
   */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.failed) return;
    this.worker.postMessage('close');
    if (Atomics.wait(this.closed, 0, 0, CLOSE_WAIT_MS) === 'timed-out') void this.worker.terminate();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.inFlight = false;
    void this.worker.terminate();
    this.opts.onFailure(err);
  }
}
