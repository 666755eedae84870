import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { listDeliveries, formatDeliveries, replay } from '../src/delivery/inspect.js';
import { Outbox, StorageError, callMatch, type DeliveryRow } from '../src/delivery/outbox.js';
import type { RenderedDelivery } from '../src/delivery/types.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'callhook-outbox-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function delivery(i: number, callKey = `call-${i % 10}`, webhook = 'crm'): RenderedDelivery {
  return {
    eventId: `evt-${i}`,
    webhook,
    callKey,
    eventName: 'call.ringing',
    method: 'POST',
    url: 'http://127.0.0.1:9/hook',
    body: JSON.stringify({ id: `evt-${i}`, n: i }),
    contentType: 'application/json',
  };
}

describe('Outbox', () => {
  it('group-commits a burst: listeners see rows only after commit, in order, and they are on disk', async () => {
    const dir = tempDir();
    const outbox = new Outbox({ path: dir, sync: 'full' });
    const seen: DeliveryRow[][] = [];
    outbox.onCommit((rows) => seen.push(rows));
    outbox.enqueue([delivery(0), delivery(1)]);
    outbox.enqueue([delivery(2)]);
    expect(seen).toHaveLength(0); // not committed yet: still in this turn's batch
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(1);
    expect(seen[0].map((r) => r.event_id)).toEqual(['evt-0', 'evt-1', 'evt-2']);
    expect(seen[0][0].id).toBeLessThan(seen[0][1].id);
    // another connection sees them committed
    const other = new Database(join(dir, 'callhook.db'), { readonly: true });
    expect((other.prepare('SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n).toBe(3);
    other.close();

    // throughput under a burst (reported, not asserted): 20 000 rows, enqueued 50 per call
    const total = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < total; i += 50) {
      outbox.enqueue(Array.from({ length: 50 }, (_, k) => delivery(100 + i + k)));
    }
    outbox.flush();
    const ms = performance.now() - t0;
    console.log(`outbox burst: ${total} rows in ${ms.toFixed(0)} ms = ${Math.round((total / ms) * 1000)} rows/s (sync=full, batches of 500)`);
    expect(outbox.pendingStats().pending).toBe(total + 3);
    outbox.close();
  });

  it('checkpoints the WAL into the database file from its own thread while commits go on', async () => {
    const dir = tempDir();
    let clock = 1_000_000;
    const outbox = new Outbox({ path: dir, now: () => clock });
    const file = join(dir, 'callhook.db');
    // the database file alone (no -wal beside it): what a checkpoint has copied into it
    const inMainFile = () => {
      const copy = join(tempDir(), 'copy.db');
      writeFileSync(copy, readFileSync(file));
      let db: Database.Database;
      try {
        db = new Database(copy, { readonly: true });
      } catch {
        return 0; // copied in the middle of a checkpoint's write: look again
      }
      try {
        return (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'deliveries'").get() as { n: number }).n === 0
          ? 0
          : (db.prepare('SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n;
      } catch {
        return 0;
      } finally {
        db.close();
      }
    };
    let n = 0;
    for (let batch = 0; batch < 20; batch++) {
      outbox.enqueue(Array.from({ length: 50 }, () => delivery(n++)));
      outbox.flush(); // a commit: asks the thread for a checkpoint (at most one per 250 ms of the clock)
      clock += 300;
    }
    // the thread copies the WAL into the file: wait for it (a condition, not a clock)
    const deadline = Date.now() + 20_000;
    let copied = inMainFile();
    while (copied === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      outbox.flush();
      copied = inMainFile();
    }
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThanOrEqual(n);
    // and nothing is lost or doubled by it
    expect(outbox.pendingStats().pending).toBe(n);
    outbox.close();
    expect(inMainFile()).toBe(n); // the last close checkpoints the rest
  });

  it('keeps everything across close and reopen, with the same ids and order', () => {
    const dir = tempDir();
    const a = new Outbox({ path: dir });
    a.enqueue([delivery(1, 'c1'), delivery(2, 'c1'), delivery(3, 'c2')]);
    a.close(); // flushes the batch
    const b = new Outbox({ path: dir });
    expect(b.openLanes().map((l) => [l.call_key])).toEqual([['c1'], ['c2']]);
    expect(b.firstInLane('crm', 'c1')?.event_id).toBe('evt-1');
    b.close();
  });

  it('prunes delivered rows past retention with their attempts, keeps dead and pending ones', () => {
    const dir = tempDir();
    const outbox = new Outbox({ path: dir, retentionMs: 1000 });
    outbox.enqueue([delivery(1, 'a'), delivery(2, 'b'), delivery(3, 'c')]);
    const [r1, r2] = outbox.flush();
    outbox.recordAttempt(r1.id, { delivery_id: r1.id, attempt: 1, at: 5000, status: 200, ms: 3, error: null, response: 'ok' }, { status: 'delivered', nextAttemptAt: 5000 });
    outbox.recordAttempt(r2.id, { delivery_id: r2.id, attempt: 1, at: 5000, status: 500, ms: 3, error: 'HTTP 500', response: null }, { status: 'dead', nextAttemptAt: 5000 });
    expect(outbox.prune(5500)).toBe(0); // delivered 500 ms ago: kept
    expect(outbox.prune(7000)).toBe(1);
    outbox.close();
    const rows = listDeliveries(dir, {});
    expect(rows.map((r) => [r.event_id, r.status])).toEqual([['evt-2', 'dead'], ['evt-3', 'pending']]);
    expect(rows[0].history).toHaveLength(1);
  });

  it('keeps each call\'s events (the web view\'s history) until the call\'s last one is past retention', () => {
    const dir = tempDir();
    let now = 1000;
    const outbox = new Outbox({ path: dir, retentionMs: 1000, now: () => now });
    outbox.recordEvent('pbx1:old', '{"n":1}');
    outbox.recordEvent('pbx1:long', '{"n":1}');
    now = 2500;
    outbox.recordEvent('pbx1:long', '{"n":2}');
    outbox.recordEvent('pbx1:new', '{"n":1}');
    expect(outbox.recentCalls().map((c) => [c.call_key, c.events])).toEqual([['pbx1:new', 1], ['pbx1:long', 2], ['pbx1:old', 1]]);
    outbox.prune(3000);
    // the old call is gone; the long one keeps its first event, older than the retention
    expect(outbox.recentCalls().map((c) => c.call_key)).toEqual(['pbx1:new', 'pbx1:long']);
    expect(outbox.callEvents('pbx1:long').map((r) => r.body)).toEqual(['{"n":1}', '{"n":2}']);
    outbox.close();
  });

  it('an unusable storage path is a StorageError naming the path and the problem', () => {
    const dir = tempDir();
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const bad = join(file, 'store');
    expect(() => new Outbox({ path: bad })).toThrow(StorageError);
    expect(() => new Outbox({ path: bad })).toThrow(`cannot create ${bad}: a component of the path is not a directory`);

    const corrupt = tempDir();
    writeFileSync(join(corrupt, 'callhook.db'), 'this is not sqlite, just some bytes '.repeat(200));
    expect(() => new Outbox({ path: corrupt })).toThrow(
      `cannot use ${join(corrupt, 'callhook.db')}: not a database (corrupt, or another kind of file)`,
    );
  });

  it('finds a call\'s deliveries by its full key or its call id alone, through an index (no table scan)', () => {
    const dir = tempDir();
    const outbox = new Outbox({ path: dir });
    outbox.enqueue([delivery(1, 'pbx1:100.1'), delivery(2, 'pbx2:100.1'), delivery(3, 'pbx1:200.2'), delivery(4, 'pbx1:100.10')]);
    outbox.flush();
    outbox.close();
    const keys = (id: string) => listDeliveries(dir, { callId: id }).map((r) => r.call_key);
    expect(keys('100.1')).toEqual(['pbx1:100.1', 'pbx2:100.1']);
    expect(keys('pbx1:100.1')).toEqual(['pbx1:100.1']);
    expect(keys('pbx2:200.2')).toEqual([]);
    expect(replay(dir, { webhook: 'crm', callId: 'pbx1:200.2' })).toBe(1);
    const db = new Database(join(dir, 'callhook.db'));
    for (const id of ['100.1', 'pbx1:100.1']) {
      const m = callMatch(id);
      const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT * FROM deliveries WHERE ${m.sql} ORDER BY id DESC LIMIT 100`).all(...m.args) as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail)).toEqual(['SEARCH deliveries USING INDEX deliveries_call_id (<expr>=?)']);
    }
    db.close();
  });

  it('keeps the last attempt in the delivery row and only superseded ones in attempts; a store made before that keeps its history', () => {
    const dir = tempDir();
    const outbox = new Outbox({ path: dir });
    outbox.enqueue([delivery(1, 'call-A'), delivery(2, 'call-B')]);
    const [a, b] = outbox.flush();
    outbox.recordAttempt(a.id, { delivery_id: a.id, attempt: 1, at: 1000, status: 503, ms: 12, error: 'HTTP 503', response: 'busy' }, { status: 'failed', nextAttemptAt: 2000 });
    outbox.recordAttempt(b.id, { delivery_id: b.id, attempt: 1, at: 1000, status: 200, ms: 7, error: null, response: 'ok' }, { status: 'delivered', nextAttemptAt: 1000 });
    outbox.flush();
    outbox.close();
    const db = new Database(join(dir, 'callhook.db'));
    // one delivered at the first try writes no attempts row at all
    expect(db.prepare('SELECT delivery_id, attempt FROM attempts').all()).toEqual([]);
    // make it look like a store from before last_attempt_at: every attempt in `attempts`
    db.exec('ALTER TABLE deliveries DROP COLUMN last_attempt_at');
    db.prepare('INSERT INTO attempts (delivery_id, attempt, at, status, ms, error, response) VALUES (?, 1, 1000, 503, 12, ?, ?)').run(a.id, 'HTTP 503', 'busy');
    db.prepare('INSERT INTO attempts (delivery_id, attempt, at, status, ms, error, response) VALUES (?, 1, 1000, 200, 7, NULL, ?)').run(b.id, 'ok');
    db.close();

    // the CLI reads such a store before the daemon has opened (and migrated) it, and after
    const histories = () => listDeliveries(dir, {}).map((r) => r.history.map((h) => [h.attempt, h.status]));
    expect(histories()).toEqual([[[1, 503]], [[1, 200]]]);
    const reopened = new Outbox({ path: dir });
    expect(histories()).toEqual([[[1, 503]], [[1, 200]]]);
    reopened.recordAttempt(a.id, { delivery_id: a.id, attempt: 2, at: 2000, status: 500, ms: 3, error: 'HTTP 500', response: null }, { status: 'failed', nextAttemptAt: 3000 });
    reopened.flush();
    reopened.recordAttempt(a.id, { delivery_id: a.id, attempt: 3, at: 3000, status: 200, ms: 4, error: null, response: 'ok' }, { status: 'delivered', nextAttemptAt: 3000 });
    reopened.flush();
    const [ra] = listDeliveries(dir, { callId: 'call-A' });
    expect(ra.history.map((h) => [h.attempt, h.at, h.status, h.error])).toEqual([[1, 1000, 503, 'HTTP 503'], [2, 2000, 500, 'HTTP 500'], [3, 3000, 200, null]]);
    reopened.close();
  });

  it('lists deliveries with attempts, formats them one line per attempt, and replays dead ones', () => {
    const dir = tempDir();
    const outbox = new Outbox({ path: dir });
    outbox.enqueue([delivery(1, 'call-A'), delivery(2, 'call-B')]);
    const [a, b] = outbox.flush();
    outbox.recordAttempt(a.id, { delivery_id: a.id, attempt: 1, at: 1000, status: 503, ms: 12, error: 'HTTP 503', response: 'busy' }, { status: 'failed', nextAttemptAt: 2000 });
    outbox.recordAttempt(a.id, { delivery_id: a.id, attempt: 2, at: 2000, status: null, ms: 5, error: 'ECONNREFUSED', response: null }, { status: 'dead', nextAttemptAt: 2000 });
    outbox.recordAttempt(b.id, { delivery_id: b.id, attempt: 1, at: 1000, status: 200, ms: 7, error: null, response: 'ok' }, { status: 'delivered', nextAttemptAt: 1000 });
    // outcomes are written together at the end of the event-loop turn; another process sees them then
    outbox.flush();

    const dead = listDeliveries(dir, { status: 'dead' });
    expect(dead).toHaveLength(1);
    expect(dead[0].call_key).toBe('call-A');
    expect(dead[0].history.map((h) => [h.attempt, h.status, h.error])).toEqual([[1, 503, 'HTTP 503'], [2, null, 'ECONNREFUSED']]);
    const table = formatDeliveries(listDeliveries(dir, { webhook: 'crm' }));
    const lines = table.split('\n');
    expect(lines).toHaveLength(4); // header + 2 attempts of A + 1 of B
    expect(lines[1]).toMatch(/call-A .*dead .*1 .*503 .*12 .*HTTP 503 "busy"/);
    expect(lines[3]).toMatch(/call-B .*delivered .*200/);

    expect(() => replay(dir, { webhook: 'crm' })).toThrow(/needs a call id/);
    expect(replay(dir, { webhook: 'other', dead: true })).toBe(0);
    expect(replay(dir, { webhook: 'crm', dead: true }, 5000)).toBe(1); // works while the outbox is open too
    const again = outbox.firstInLane('crm', 'call-A')!;
    expect([again.status, again.next_attempt_at, again.attempts, again.retry_from]).toEqual(['pending', 5000, 2, 2]);
    outbox.close();
  });

  it('inspect on a missing store names the file', () => {
    const dir = tempDir();
    expect(() => listDeliveries(dir)).toThrow(`no delivery store at ${join(dir, 'callhook.db')}`);
  });
});
