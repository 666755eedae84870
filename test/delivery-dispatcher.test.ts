import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebhookConfig } from '../src/config/types.js';
import { Dispatcher, type DispatcherOptions } from '../src/delivery/dispatcher.js';
import { listDeliveries, replay } from '../src/delivery/inspect.js';
import { Outbox } from '../src/delivery/outbox.js';
import type { AttemptResult, RenderedDelivery } from '../src/delivery/types.js';
import { verifySignature } from './helpers/verify.js';
import { startReceiver, type ReceivedRequest, type Receiver } from './helpers/receiver.js';
import { webhookConfig } from './helpers/webhook.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const AUTH = 'Bearer TOPSECRET-token';
const FAST_SCHEDULE = [0, 50, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100];

function webhook(name: string, url: string, over: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({
    name, url, signing_secret: SECRET, headers: { Authorization: AUTH, 'X-Tenant': 'acme' },
    retry: { schedule_ms: FAST_SCHEDULE }, allow_http: true, ...over,
  });
}

function ev(wh: WebhookConfig, callKey: string, seq: number): RenderedDelivery {
  const id = `${callKey}-${seq}`;
  return {
    eventId: id, webhook: wh.name, callKey, eventName: 'call.ringing', method: wh.method, url: wh.url,
    body: JSON.stringify({ id, call_id: callKey, sequence: seq }), contentType: 'application/json',
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'callhook-dispatch-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function receiver(handler?: Parameters<typeof startReceiver>[0], port?: number): Promise<Receiver> {
  const r = await startReceiver(handler, port);
  cleanups.push(() => r.close());
  return r;
}

/** a free port with nothing listening on it (connections are refused) */
async function deadPort(): Promise<number> {
  const r = await startReceiver();
  await r.close();
  return r.port;
}

interface Setup {
  dir: string;
  outbox: Outbox;
  dispatcher: Dispatcher;
  logs: string[];
  attempts: AttemptResult[];
}

function setup(webhooks: WebhookConfig[], opts: Partial<DispatcherOptions> & { dir?: string } = {}): Setup {
  const dir = opts.dir ?? tempDir();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(s) });
  const outbox = new Outbox({ path: dir });
  const attempts: AttemptResult[] = [];
  const dispatcher = new Dispatcher({
    outbox, webhooks, logger, onAttempt: (a) => attempts.push(a), pollIntervalMs: 100,
    breaker: { failureThreshold: 5, probeMinMs: 50, probeMaxMs: 200 }, ...opts,
  });
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    await dispatcher.close(200);
    outbox.close();
  };
  cleanups.push(shutdown);
  dispatcher.start();
  return { dir, outbox, dispatcher, logs, attempts };
}

async function waitFor(cond: () => boolean, timeoutMs = 8000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const seqOf = (r: ReceivedRequest) => (JSON.parse(r.body) as { sequence: number }).sequence;
const callOf = (r: ReceivedRequest) => (JSON.parse(r.body) as { call_id: string }).call_id;

/**
 * Per call, what a receiver saw must be in order: sequence numbers never go back, and once
 * a sequence number got a 2xx it is not sent again before the next one.
 */
function assertOrderedPerCall(requests: ReceivedRequest[], okIds: Set<string>, calls: string[], perCall: number): void {
  for (const call of calls) {
    const seen = requests.filter((r) => callOf(r) === call).map(seqOf);
    for (let i = 1; i < seen.length; i++) expect(seen[i], `call ${call}: ${seen.join(',')}`).toBeGreaterThanOrEqual(seen[i - 1]);
    for (let s = 1; s <= perCall; s++) expect(okIds.has(`${call}-${s}`), `${call}-${s} delivered`).toBe(true);
  }
}

describe('Dispatcher', () => {
  it('receiver down then up: every event arrives, in order per call, same ids, signed; secrets never logged', async () => {
    const port = await deadPort();
    const wh = webhook('crm', `http://127.0.0.1:${port}/hooks/calls`);
    const s = setup([wh]);
    const calls = ['c1', 'c2', 'c3'];
    for (let seq = 1; seq <= 4; seq++) s.dispatcher.enqueue(calls.map((c) => ev(wh, c, seq)));
    await waitFor(() => s.attempts.length >= 3, 5000, 'refused attempts');
    expect(s.attempts.every((a) => !a.ok && a.status === null)).toBe(true);

    // it comes back, answering 500 for a while, then 200
    let failUntil = Date.now() + 300;
    const okIds = new Set<string>();
    const r = await receiver((req, res) => {
      if (Date.now() < failUntil) return void res.writeHead(500).end('not yet');
      okIds.add(req.headers['webhook-id'] as string);
      res.writeHead(200).end('ok');
    }, port);
    await waitFor(() => okIds.size === 12, 8000, 'all 12 delivered');
    failUntil = 0;

    assertOrderedPerCall(r.requests, okIds, calls, 4);
    for (const req of r.requests) {
      const body = JSON.parse(req.body) as { id: string };
      expect(req.headers['webhook-id']).toBe(body.id); // same id on every attempt
      expect(verifySignature(SECRET, body.id, req.headers['webhook-timestamp'] as string, req.body, req.headers['webhook-signature'] as string)).toBe(true);
      expect(req.headers['authorization']).toBe(AUTH);
      expect(req.headers['x-tenant']).toBe('acme');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.headers['user-agent']).toMatch(/^callhook\/\d+\.\d+\.\d+/);
      expect(req.url).toBe('/hooks/calls');
    }
    await waitFor(() => s.dispatcher.stats().pending === 0, 2000, 'store drained');
    expect(s.dispatcher.stats()).toMatchObject({ delivered: 12, dead: 0, pending: 0, inFlight: 0 });

    // one JSON line per attempt, with the fields operators grep for; no secrets, no headers
    const lines = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const delivered = lines.filter((l) => l.msg === 'webhook delivered');
    expect(delivered).toHaveLength(12);
    expect(delivered[0]).toMatchObject({ level: 30, event: 'call.ringing', webhook: 'crm', status: 200 });
    expect(Object.keys(delivered[0])).toEqual(expect.arrayContaining(['call_key', 'attempt', 'ms']));
    expect(lines.some((l) => l.level === 40 && typeof l.reason === 'string')).toBe(true);
    const all = s.logs.join('\n');
    expect(all).not.toContain('TOPSECRET');
    expect(all).not.toContain(SECRET.slice(6));
  });

  it('honours Retry-After on 429', async () => {
    let n = 0;
    const r = await receiver((_req, res) => {
      if (n++ === 0) return void res.writeHead(429, { 'retry-after': '1' }).end();
      res.writeHead(200).end();
    });
    const wh = webhook('crm', `${r.url}/h`);
    const s = setup([wh]);
    s.dispatcher.enqueue([ev(wh, 'c1', 1)]);
    await waitFor(() => s.attempts.length === 2, 5000, 'the retry');
    expect(r.requests[1].at - r.requests[0].at).toBeGreaterThanOrEqual(1000);
    expect(s.attempts.map((a) => a.status)).toEqual([429, 200]);
  });

  it('410 Gone disables the webhook until reload; its deliveries stay pending and then go, in order', async () => {
    let gone = true;
    const r = await receiver((_req, res) => void res.writeHead(gone ? 410 : 200).end());
    const wh = webhook('crm', `${r.url}/h`);
    const s = setup([wh]);
    s.dispatcher.enqueue([ev(wh, 'c1', 1), ev(wh, 'c1', 2), ev(wh, 'c1', 3)]);
    await waitFor(() => r.requests.length === 1, 5000, 'first attempt');
    await new Promise((res) => setTimeout(res, 400));
    expect(r.requests).toHaveLength(1); // no retries, nothing else sent
    const st = s.dispatcher.stats();
    expect(st.webhooks.crm).toMatchObject({ gone: true, pending: 3 });
    const err = s.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 50);
    expect(err?.msg).toMatch(/410 Gone: DISABLED/);

    gone = false;
    s.dispatcher.updateWebhooks([wh]); // config reload re-enables it
    await waitFor(() => r.requests.length === 4, 5000, 'resumed deliveries');
    expect(r.requests.map(seqOf)).toEqual([1, 1, 2, 3]);
    await waitFor(() => s.dispatcher.stats().pending === 0, 2000, 'drained');
  });

  it('a 302 is not followed and counts as a failure (dead after the schedule)', async () => {
    const r = await receiver((req, res) => {
      if (req.url === '/h') return void res.writeHead(302, { location: '/elsewhere' }).end();
      res.writeHead(200).end();
    });
    const wh = webhook('crm', `${r.url}/h`, { retry: { schedule_ms: [0, 20] } });
    const s = setup([wh]);
    s.dispatcher.enqueue([ev(wh, 'c1', 1)]);
    await waitFor(() => s.dispatcher.stats().dead === 1, 5000, 'dead');
    expect(r.requests.map((q) => q.url)).toEqual(['/h', '/h']);
    const [row] = listDeliveries(s.dir, {});
    expect(row).toMatchObject({ status: 'dead', attempts: 2, last_status: 302 });
    expect(row.last_error).toMatch(/redirects are not followed/);
  });

  it('the circuit breaker limits attempts against a dead receiver; waiting deliveries keep their retries', async () => {
    let up = false;
    const r = await receiver((_req, res) => void res.writeHead(up ? 200 : 500).end());
    const wh = webhook('crm', `${r.url}/h`, { retry: { schedule_ms: new Array(30).fill(20) } });
    const s = setup([wh], { perWebhookConcurrency: 1, breaker: { failureThreshold: 5, probeMinMs: 300, probeMaxMs: 300 } });
    s.dispatcher.enqueue(Array.from({ length: 20 }, (_, i) => ev(wh, `call-${i}`, 1)));
    await new Promise((res) => setTimeout(res, 1000));
    // without a breaker: 20 calls x ~30 attempts each in that second; with it: 5 + a probe per 300 ms
    expect(r.requests.length).toBeGreaterThanOrEqual(5);
    expect(r.requests.length).toBeLessThanOrEqual(5 + 5);
    const rows = listDeliveries(s.dir, {});
    expect(rows.filter((d) => d.attempts === 0).length).toBeGreaterThanOrEqual(10);
    expect(rows.some((d) => d.status === 'dead')).toBe(false);
    up = true;
    await waitFor(() => s.dispatcher.stats().pending === 0, 5000, 'all delivered after recovery');
    expect(s.dispatcher.stats().delivered).toBe(20);
  });

  it('a slow receiver delays neither another webhook nor other calls to the same webhook', async () => {
    const slow = await receiver((_req, res) => void setTimeout(() => res.writeHead(200).end(), 2500));
    const main = await receiver((req, res) => {
      const delay = callOf(req) === 'stuck' ? 2500 : 0;
      setTimeout(() => res.writeHead(200).end(), delay);
    });
    const whSlow = webhook('slow', `${slow.url}/h`);
    const whMain = webhook('main', `${main.url}/h`);
    const s = setup([whSlow, whMain]);
    const t0 = Date.now();
    s.dispatcher.enqueue([
      ev(whSlow, 'stuck', 1), ev(whSlow, 'stuck', 2), ev(whMain, 'stuck', 1), ev(whMain, 'stuck', 2),
      ev(whMain, 'a', 1), ev(whMain, 'b', 1), ev(whMain, 'a', 2), ev(whMain, 'b', 2), ev(whMain, 'a', 3),
    ]);
    await waitFor(() => s.attempts.filter((a) => a.ok).length === 5, 2000, 'fast calls delivered');
    expect(Date.now() - t0).toBeLessThan(2000); // the 2.5 s answers are still outstanding
    expect(s.attempts.every((a) => a.callKey !== 'stuck')).toBe(true);
    // the stuck call's second event waits for its first, on both webhooks
    expect(main.requests.filter((q) => callOf(q) === 'stuck').map(seqOf)).toEqual([1]);
    expect(slow.requests.map(seqOf)).toEqual([1]);
    await waitFor(() => s.attempts.length === 9, 8000, 'stuck call delivered too');
    expect(main.requests.filter((q) => callOf(q) === 'stuck').map(seqOf)).toEqual([1, 2]);
  }, 120_000);

  it('per-call order holds with many calls interleaved and flaky answers', async () => {
    let n = 0;
    const okIds = new Set<string>();
    const r = await receiver((req, res) => {
      const fail = n++ % 5 === 2; // every fifth answer is a 500
      setTimeout(() => {
        if (!fail) okIds.add(req.headers['webhook-id'] as string);
        res.writeHead(fail ? 500 : 204).end();
      }, n % 7);
    });
    const wh = webhook('crm', `${r.url}/h`, { retry: { schedule_ms: new Array(20).fill(10) } });
    const s = setup([wh]);
    const calls = Array.from({ length: 30 }, (_, i) => `call-${i}`);
    for (let seq = 1; seq <= 8; seq++) {
      for (const c of calls) s.dispatcher.enqueue([ev(wh, c, seq)]);
      await new Promise((res) => setImmediate(res)); // events keep coming while earlier ones are in flight
    }
    await waitFor(() => okIds.size === 240, 15000, 'all 240 delivered');
    assertOrderedPerCall(r.requests, okIds, calls, 8);
    await waitFor(() => s.dispatcher.stats().pending === 0, 2000, 'drained');
  }, 120_000);

  it('dead after the schedule runs out, kept in the store; later events of the call still go; replay delivers it', async () => {
    let rejectFirst = true;
    const r = await receiver((req, res) => {
      const bad = rejectFirst && req.headers['webhook-id'] === 'c1-1';
      res.writeHead(bad ? 500 : 200).end(bad ? 'boom' : 'ok');
    });
    const wh = webhook('crm', `${r.url}/h`, { retry: { schedule_ms: [0, 30, 30] } });
    const s = setup([wh]);
    s.dispatcher.enqueue([ev(wh, 'c1', 1), ev(wh, 'c1', 2)]);
    await waitFor(() => s.attempts.length === 4, 5000, 'three failures and the next event');
    expect(s.attempts.map((a) => [a.eventId, a.status])).toEqual([
      ['c1-1', 500], ['c1-1', 500], ['c1-1', 500], ['c1-2', 200],
    ]);
    // outcomes reach the file within ATTEMPT_WRITE_MS; another connection sees them then
    await waitFor(() => listDeliveries(s.dir, { status: 'dead' }).length === 1, 5000, 'the dead row on disk');
    const [dead] = listDeliveries(s.dir, { status: 'dead' });
    expect(dead).toMatchObject({ event_id: 'c1-1', attempts: 3, last_status: 500, last_response: 'boom' });
    expect(s.dispatcher.stats().dead).toBe(1);

    rejectFirst = false;
    expect(replay(s.dir, { webhook: 'crm', dead: true })).toBe(1); // another connection, as the CLI does
    await waitFor(() => s.attempts.length === 5, 5000, 'replayed delivery');
    expect(s.attempts[4]).toMatchObject({ eventId: 'c1-1', status: 200, attempt: 4 });
    expect(r.requests.at(-1)?.headers['webhook-id']).toBe('c1-1');
    expect(listDeliveries(s.dir, { status: 'dead' })).toHaveLength(0);
  });

  it('persists across restarts: pending deliveries resume from the same file with the same ids, in order', async () => {
    const port = await deadPort();
    const wh = webhook('crm', `http://127.0.0.1:${port}/h`);
    const dir = tempDir();
    const first = setup([wh], { dir });
    first.dispatcher.enqueue([ev(wh, 'c1', 1), ev(wh, 'c2', 1), ev(wh, 'c1', 2), ev(wh, 'c2', 2), ev(wh, 'c1', 3)]);
    await waitFor(() => first.attempts.length >= 2, 5000, 'failed attempts');
    await first.dispatcher.close(100);
    first.outbox.close();

    const r = await receiver(undefined, port);
    const second = setup([wh], { dir });
    await waitFor(() => r.requests.length === 5, 5000, 'all resumed');
    const ids = r.requests.map((q) => q.headers['webhook-id']);
    expect([...ids].sort()).toEqual(['c1-1', 'c1-2', 'c1-3', 'c2-1', 'c2-2']);
    expect(ids.filter((i) => String(i).startsWith('c1'))).toEqual(['c1-1', 'c1-2', 'c1-3']);
    expect(ids.filter((i) => String(i).startsWith('c2'))).toEqual(['c2-1', 'c2-2']);
    // attempt numbers continue from the store
    expect(second.attempts.find((a) => a.eventId === 'c1-1')!.attempt).toBeGreaterThan(1);
  });

  it('close(grace) lets a request in flight finish; past the grace it is aborted and stays pending', async () => {
    const r = await receiver((_req, res) => void setTimeout(() => res.writeHead(200).end(), 300));
    const wh = webhook('crm', `${r.url}/h`);
    const a = setup([wh]);
    a.dispatcher.enqueue([ev(wh, 'c1', 1)]);
    await waitFor(() => r.requests.length === 1, 5000, 'request in flight');
    await a.dispatcher.close(2000);
    expect(listDeliveries(a.dir, {})[0].status).toBe('delivered');

    r.setHandler((_req, res) => void setTimeout(() => res.writeHead(200).end(), 3000));
    const b = setup([wh]);
    b.dispatcher.enqueue([ev(wh, 'c9', 1)]);
    await waitFor(() => r.requests.length === 2, 5000, 'slow request in flight');
    const t0 = Date.now();
    await b.dispatcher.close(100);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(listDeliveries(b.dir, {})[0]).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('a removed webhook keeps its deliveries pending; adding it back resumes them', async () => {
    const r = await receiver();
    const wh = webhook('crm', `${r.url}/h`);
    const other = webhook('other', `${r.url}/o`);
    const s = setup([other]); // crm not configured
    s.dispatcher.enqueue([ev(wh, 'c1', 1), ev(other, 'c1', 1)]);
    await waitFor(() => r.requests.length === 1, 5000, 'the configured webhook');
    await new Promise((res) => setTimeout(res, 200));
    expect(r.requests.map((q) => q.url)).toEqual(['/o']);
    expect(s.dispatcher.stats().webhooks.crm.pending).toBe(1);
    s.dispatcher.updateWebhooks([other, wh]);
    await waitFor(() => r.requests.length === 2, 5000, 'the re-added webhook');
    expect(r.requests[1].url).toBe('/h');
  });

  it('the per-webhook timeout covers headers and body: a slow answer or a dribbling body is a failed attempt', async () => {
    const r = await receiver((req, res) => {
      if (callOf(req) === 'late-headers') return void setTimeout(() => res.writeHead(200).end(), 1500);
      res.writeHead(200);
      res.write('partial');
      setTimeout(() => res.end(), 1500); // headers at once, body never finishes in time
    });
    const wh = webhook('crm', `${r.url}/h`, { timeout_ms: 200, retry: { schedule_ms: [0] } });
    const s = setup([wh]);
    s.dispatcher.enqueue([ev(wh, 'late-headers', 1), ev(wh, 'late-body', 1)]);
    await waitFor(() => s.attempts.length === 2, 5000, 'both attempts');
    for (const a of s.attempts) {
      expect(a).toMatchObject({ ok: false, status: null, error: 'timeout after 200 ms' });
      expect(a.ms).toBeLessThan(1500);
    }
    expect(s.dispatcher.stats().dead).toBe(2);
  });

  it('GET deliveries sign the empty body and carry no content-type', async () => {
    const r = await receiver();
    const wh = webhook('crm', `${r.url}/get`, { method: 'GET' });
    const s = setup([wh]);
    s.dispatcher.enqueue([{ ...ev(wh, 'c1', 1), url: `${r.url}/get?event_name=call.ringing&call_id=c1`, body: null, contentType: null }]);
    await waitFor(() => r.requests.length === 1, 5000, 'GET');
    const q = r.requests[0];
    expect(q.method).toBe('GET');
    expect(q.url).toBe('/get?event_name=call.ringing&call_id=c1');
    expect(q.headers['content-type']).toBeUndefined();
    expect(verifySignature(SECRET, 'c1-1', q.headers['webhook-timestamp'] as string, null, q.headers['webhook-signature'] as string)).toBe(true);
  });
});
