/**
 * The periodic summary log line: a real pino logger writing JSON lines into a stream,
 * the reporter on a short interval, counters that move between two lines.
 */
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SummaryReporter, type SummarySample } from '../src/observe/summary.js';

describe('summary line', () => {
  it('logs at info what happened since the last line and where things stand', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new PassThrough();
    stream.setEncoding('utf8').on('data', (s: string) => {
      for (const l of s.split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
    });
    const logger = pino({ level: 'info' }, stream);
    const sample: SummarySample = {
      callsEnded: 5,
      activeCalls: 1,
      activeLegs: 2,
      delivered: 40,
      failed: 2,
      dead: 0,
      outboxPending: 0,
      oldestPendingAgeMs: 0,
      pbx: { pbx1: true },
    };
    const reporter = new SummaryReporter(logger, () => ({ ...sample }), 40);
    reporter.start(); // the baseline: what came before start is not reported
    sample.callsEnded = 8;
    sample.delivered = 52;
    sample.failed = 5;
    sample.dead = 1;
    sample.outboxPending = 3;
    sample.oldestPendingAgeMs = 12_400;
    sample.pbx = { pbx1: false };
    const deadline = Date.now() + 5000;
    while (lines.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    reporter.stop();
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'summary',
      calls_ended: 3,
      active_calls: 1,
      deliveries_ok: 12,
      deliveries_failed: 3,
      deliveries_dead: 1,
      outbox_pending: 3,
      oldest_pending_age_s: 12,
      pbx_connected: { pbx1: false },
    });
    // the next line covers only what happened after the first
    const next = reporter.report();
    expect(next).toMatchObject({ calls_ended: 0, deliveries_ok: 0, deliveries_failed: 0, outbox_pending: 3 });
  });
});
