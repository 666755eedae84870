/**
 * Benchmarks 3 and 4, end to end over loopback: the world process (bench/world.ts: a fake
 * Asterisk and a webhook receiver) and the real daemon in this process, started from a
 * config file, with its durable outbox (SQLite, sync normal) in a temp dir and its log at
 * info level written (as JSON, like in production) to /dev/null.
 *
 * 3. Throughput: the fake PBX blasts a synthetic stream; webhooks/s is the number of
 *    webhooks over the time from the first byte sent to the last webhook received. The
 *    limit is a plain undici Pool posting the same number of bodies of the same average
 *    size to the same receiver, with as many requests in flight as the dispatcher allows
 *    one webhook (16).
 * 4. Latency: the fake PBX sends at a fixed rate; per webhook, the time from its frame
 *    being written to the webhook arriving.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { Daemon } from '../src/daemon.js';
import { bufferedStdout, createLogger } from '../src/observe/logger.js';
import { amiStream, eventsOf, TRUNKS } from './streams.js';
import type { WorldCommand, WorldStats } from './world.js';

/** the dispatcher's default per-webhook concurrency */
const IN_FLIGHT = 16;

export interface ThroughputResult {
  webhooks: number;
  ms: number;
  perSec: number;
  limitPerSec: number;
  ratio: number;
  avgBodyBytes: number;
  /** CPU time (user + system) this process spent per webhook: the daemon, and the plain Pool */
  daemonCpuUsPerWebhook: number;
  limitCpuUsPerRequest: number;
}

export interface LatencyResult {
  rate: number;
  webhooks: number;
  /** from the frame whose processing emitted the event */
  p50: number;
  p99: number;
  max: number;
  /** from the event's own frame: with the tracker's deliberate holds (a call.initial waiting for routing) */
  ownFrame: { p50: number; p99: number; max: number };
  /** a plain Pool's round trip to the same receiver at the same webhooks/s (the HTTP part's floor) */
  limit: { p50: number; p99: number; max: number };
}

interface World {
  child: ChildProcess;
  httpPort: number;
  amiPort: number;
  ask<T>(cmd: WorldCommand, reply: string): Promise<T>;
}

export async function startWorld(): Promise<World> {
  const child = fork(fileURLToPath(new URL('./world.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiters = new Map<string, { resolve: (m: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (m: { type: string }) => {
    const w = waiters.get(m.type);
    waiters.delete(m.type);
    w?.resolve(m);
  });
  child.once('exit', (code) => {
    for (const w of waiters.values()) w.reject(new Error(`bench world process exited (${code})`));
    waiters.clear();
  });
  const wait = <T>(type: string) =>
    new Promise<T>((resolve, reject) => waiters.set(type, { resolve: resolve as (m: unknown) => void, reject }));
  const ready = await wait<{ httpPort: number; amiPort: number }>('ready');
  return {
    child,
    ...ready,
    ask<T>(cmd: WorldCommand, reply: string) {
      const p = wait<T>(reply);
      child.send(cmd);
      return p;
    },
  };
}

/** call events per frame of the lean stream (a small sample, counted here) */
function framesPerEvent(): number {
  const frames = amiStream({ messages: 2_000, timestampBaseMs: Date.now(), lean: true }).frames;
  return frames.length / Math.max(1, eventsOf(frames));
}

function writeConfig(dir: string, world: World, webhooks: number): string {
  const file = join(dir, 'callhook.yaml');
  writeFileSync(
    file,
    [
      'pbx:',
      '  - name: bench',
      '    type: asterisk',
      '    host: 127.0.0.1',
      `    port: ${world.amiPort}`,
      '    username: callhook',
      '    secret: bench-secret',
      `    trunks: ${JSON.stringify(TRUNKS)}`,
      'webhooks:',
      ...Array.from({ length: webhooks }, (_, i) => [
        `  - name: receiver${i + 1}`,
        `    url: http://127.0.0.1:${world.httpPort}/hook${i + 1}`,
        '    events: ["*"]',
        '    signing_secret: whsec_YmVuY2gtc2lnbmluZy1zZWNyZXQtMTIzNDU2Nzg=',
      ]).flat(),
      `storage: {path: ${JSON.stringify(join(dir, 'store'))}, sync: normal}`,
      'http: {listen: off}',
      'log: {level: info}',
      '',
    ].join('\n'),
  );
  return file;
}

export interface RunOptions {
  messages: number;
  /** frames per second, or null: as fast as the socket takes them */
  rate: number | null;
  timeoutMs: number;
  /** webhooks, each getting every event (default 1) */
  webhooks?: number;
  lean?: boolean;
  /** at the timeout, report what arrived instead of failing (the sustained run: falling behind is its finding) */
  partial?: boolean;
  /** ms after the daemon's start from which its RSS counts as settled (rss.settled: the first sample then) */
  settleMs?: number;
}

export interface RunResult {
  stats: WorldStats;
  /** webhooks owed: events x webhooks */
  expected: number;
  events: number;
  cpuUs: number;
  /** this process's RSS (the daemon's) sampled every second: first, once settled (settleMs), last, peak (MB) */
  rss: { first: number; settled: number; last: number; peak: number };
  /** the most rows the outbox held still to send, at the moment the stream ended, and when the run was given up (partial) */
  outbox: { peak: number; atStreamEnd: number; atDeadline: number };
  /** failed attempts (the receiver never fails: any is self-inflicted), breaker openings */
  failed: number;
  breakerOpen: number;
}

/** Streams frames into a fresh daemon; resolves with the world's stats once every webhook owed arrived. */
export async function runDaemon(world: World, opts: RunOptions): Promise<RunResult> {
  const base = Date.now();
  const webhooks = opts.webhooks ?? 1;
  const { events } = await world.ask<{ events: number }>({ cmd: 'load', messages: opts.messages, timestampBaseMs: base, rate: opts.rate, lean: opts.lean }, 'loaded');
  const expected = events * webhooks;
  const dir = mkdtempSync(join(tmpdir(), 'callhook-bench-'));
  // the daemon's own log destination (batched writes), into /dev/null
  const logger = createLogger({ level: 'info', destination: bufferedStdout('/dev/null') });
  const cpu0 = process.cpuUsage();
  const daemon = await Daemon.start({ configPath: writeConfig(dir, world, webhooks), logger });
  const started = performance.now();
  const deadline = started + opts.timeoutMs;
  const mb = () => Math.round(process.memoryUsage.rss() / 1048576);
  const rss = { first: mb(), settled: -1, last: 0, peak: 0 };
  const outbox = { peak: 0, atStreamEnd: -1, atDeadline: 0 };
  let breakerOpen = 0;
  let lastSample = 0;
  let stats: WorldStats;
  let cpuUs = 0;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      ({ stats } = await world.ask<{ stats: WorldStats }>({ cmd: 'stats' }, 'stats'));
      if (performance.now() - lastSample >= 1000) {
        lastSample = performance.now();
        const d = daemon.dispatcher.stats();
        rss.last = mb();
        rss.peak = Math.max(rss.peak, rss.last);
        if (rss.settled < 0 && lastSample - started >= (opts.settleMs ?? 0)) rss.settled = rss.last;
        outbox.peak = Math.max(outbox.peak, d.pending);
        breakerOpen += Object.values(d.webhooks).filter((w) => w.breaker === 'open').length;
        if (stats.sendEnd !== null && outbox.atStreamEnd < 0) outbox.atStreamEnd = d.pending;
      }
      if (stats.received >= expected) break;
      if (performance.now() > deadline && opts.partial) {
        outbox.atDeadline = daemon.dispatcher.stats().pending;
        break;
      }
      if (performance.now() > deadline) throw new Error(`e2e: only ${stats.received} of ${expected} webhooks arrived in ${opts.timeoutMs} ms`);
    }
    const cpu = process.cpuUsage(cpu0);
    cpuUs = cpu.user + cpu.system;
    ({ stats } = await world.ask<{ stats: WorldStats }>({ cmd: 'stats', latencies: true }, 'stats'));
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  if (outbox.atStreamEnd < 0) outbox.atStreamEnd = 0;
  if (rss.settled < 0) rss.settled = rss.last;
  return { stats, expected, events, cpuUs, rss, outbox, failed: daemon.dispatcher.stats().failed, breakerOpen };
}

/** The limit: a plain undici Pool, IN_FLIGHT requests at a time, n bodies of `size` bytes. */
async function runLimit(world: World, n: number, size: number): Promise<{ ms: number; cpuUs: number }> {
  const pool = new Pool(`http://127.0.0.1:${world.httpPort}`, { pipelining: 1 });
  const body = JSON.stringify({ pad: 'x'.repeat(Math.max(0, size - 10)) });
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await pool.request({ path: '/limit', method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.body.dump();
    }
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  return { ms, cpuUs: cpu.user + cpu.system };
}

/**
 * The latency floor at a pace: a plain undici Pool posting n bodies of `size` bytes to the
 * same receiver, one every 1000/perSec ms, each on its own (no order to keep); per request,
 * the round trip (request sent to response read), in this process.
 */
async function runLimitPaced(world: World, n: number, perSec: number, size: number): Promise<{ p50: number; p99: number; max: number }> {
  const pool = new Pool(`http://127.0.0.1:${world.httpPort}`, { pipelining: 1 });
  const body = JSON.stringify({ pad: 'x'.repeat(Math.max(0, size - 10)) });
  const rtt: number[] = [];
  const sends: Array<Promise<void>> = [];
  const one = async () => {
    const t0 = performance.now();
    const res = await pool.request({ path: '/limit', method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.body.dump();
    rtt.push(performance.now() - t0);
  };
  const start = performance.now();
  while (sends.length < n) {
    const due = Math.min(n, Math.floor(((performance.now() - start) * perSec) / 1000) + 1);
    while (sends.length < due) sends.push(one());
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(sends);
  await pool.close();
  return percentiles(rtt);
}

export interface E2eOptions {
  /** frames blasted for the throughput run */
  messages: number;
  /** frames sent at `rate`/s for the latency run */
  latencyMessages: number;
  rate: number;
  timeoutMs: number;
  /** latency at a rate of call events (the lean stream, one webhook): events/s, for how long */
  eventLatency: { eventsPerSec: number; seconds: number };
  /** the sustained run: call events/s, for how long, to how many webhooks */
  sustained: { eventsPerSec: number; seconds: number; webhooks: number };
}

export interface EventLatencyResult {
  eventsPerSec: number;
  seconds: number;
  webhooks: number;
  /** every webhook of the run */
  all: { p50: number; p99: number; max: number };
  /** the first second's webhooks (the first after start: cold code paths, the first connection) */
  firstSecond: { p50: number; p99: number; max: number };
  /** the webhooks after the first second */
  afterFirstSecond: { p50: number; p99: number; max: number };
  /** a plain Pool's round trip to the same receiver at the same webhooks/s (the HTTP part's floor) */
  limit: { p50: number; p99: number; max: number };
}

export interface SustainedResult {
  eventsPerSec: number;
  seconds: number;
  webhooks: number;
  deliveries: number;
  /** deliveries the stream called for (events x webhooks) */
  owed: number;
  deliveriesPerSec: number;
  outboxPeak: number;
  outboxAtStreamEnd: number;
  p50: number;
  p99: number;
  max: number;
  /** first, settled (after the first quarter of the stream: heap and caches grown to their working size), last, peak */
  rss: { first: number; settled: number; last: number; peak: number };
  failed: number;
  breakerOpen: number;
}

function percentiles(values: number[]): { p50: number; p99: number; max: number } {
  const l = values.slice().sort((a, b) => a - b);
  const pct = (p: number) => l[Math.min(l.length - 1, Math.floor((l.length * p) / 100))] ?? NaN;
  return { p50: pct(50), p99: pct(99), max: l.at(-1) ?? NaN };
}

async function throughput(world: World, opts: E2eOptions, webhooks: number): Promise<ThroughputResult> {
  const run = await runDaemon(world, { messages: opts.messages, rate: null, timeoutMs: opts.timeoutMs, webhooks });
  const ms = (run.stats.lastAt as number) - (run.stats.sendStart as number);
  const perSec = (run.expected / ms) * 1000;
  const avgBodyBytes = Math.round(run.stats.bodyBytes / run.stats.received);
  await world.ask({ cmd: 'reset' }, 'reset');
  const limit = await runLimit(world, run.expected, avgBodyBytes);
  const limitPerSec = (run.expected / limit.ms) * 1000;
  return {
    webhooks: run.expected,
    ms,
    perSec,
    limitPerSec,
    ratio: perSec / limitPerSec,
    avgBodyBytes,
    daemonCpuUsPerWebhook: Math.round(run.cpuUs / run.expected),
    limitCpuUsPerRequest: Math.round(limit.cpuUs / run.expected),
  };
}

/** the Pool at the pace of a latency run: as many requests, over as long, of the same average size */
async function pacedLimit(world: World, run: RunResult): Promise<{ p50: number; p99: number; max: number }> {
  const { received, bodyBytes, sendStart, lastAt } = run.stats;
  const perSec = (received / Math.max(1, (lastAt as number) - (sendStart as number))) * 1000;
  await world.ask({ cmd: 'reset' }, 'reset');
  return runLimitPaced(world, received, perSec, Math.round(bodyBytes / Math.max(1, received)));
}

/** the lean stream paced at `eventsPerSec` call events/s for `seconds`, to `webhooks` webhooks */
function runEvents(world: World, eventsPerSec: number, seconds: number, webhooks: number, timeoutMs: number, partial: boolean): Promise<RunResult> {
  const perEvent = framesPerEvent();
  const frames = Math.round(eventsPerSec * seconds * perEvent);
  const rate = Math.round(eventsPerSec * perEvent);
  // RSS counts as settled after the first quarter of the stream
  return runDaemon(world, { messages: frames, rate, timeoutMs, webhooks, lean: true, partial, settleMs: (seconds * 1000) / 4 });
}

export async function benchE2e(opts: E2eOptions): Promise<{ throughput: ThroughputResult; throughput3: ThroughputResult; latency: LatencyResult; eventLatency: EventLatencyResult; sustained: SustainedResult }> {
  const world = await startWorld();
  try {
    // 3. throughput, one webhook and three
    const throughput1 = await throughput(world, opts, 1);
    const throughput3 = await throughput(world, opts, 3);

    // 4. latency at a fixed rate
    const lat = await runDaemon(world, { messages: opts.latencyMessages, rate: opts.rate, timeoutMs: opts.timeoutMs });
    const latencyLimit = await pacedLimit(world, lat);
    const latency = { rate: opts.rate, webhooks: lat.stats.latencies.length, ...percentiles(lat.stats.latencies), ownFrame: percentiles(lat.stats.ownFrameLatencies), limit: latencyLimit };

    // 4b. latency at a rate of call events (the lean stream: as many frames per event as a PBX
    // limited to the events callhook reads), one webhook; latencies come in arrival order
    const e = opts.eventLatency;
    const ev = await runEvents(world, e.eventsPerSec, e.seconds, 1, opts.timeoutMs + e.seconds * 1000, false);
    const all = ev.stats.latencies;
    const firstN = Math.min(all.length, e.eventsPerSec);
    const eventLatency: EventLatencyResult = {
      eventsPerSec: e.eventsPerSec,
      seconds: e.seconds,
      webhooks: all.length,
      all: percentiles(all),
      firstSecond: percentiles(all.slice(0, firstN)),
      afterFirstSecond: percentiles(all.slice(firstN)),
      limit: await pacedLimit(world, ev),
    };

    // 6. sustained: call events at a steady rate for minutes, to several webhooks; the
    // stream's own time plus 30 s to catch up, what is still owed then is reported
    const s = opts.sustained;
    const run = await runEvents(world, s.eventsPerSec, s.seconds, s.webhooks, s.seconds * 1000 + 30_000, true);
    const sent = ((run.stats.sendEnd ?? run.stats.lastAt ?? 0) - (run.stats.sendStart ?? 0)) / 1000;
    const sustained: SustainedResult = {
      eventsPerSec: Math.round(run.events / sent),
      seconds: Math.round(sent),
      webhooks: s.webhooks,
      deliveries: run.stats.received,
      owed: run.expected,
      deliveriesPerSec: Math.round((run.stats.received / ((run.stats.lastAt as number) - (run.stats.sendStart as number))) * 1000),
      outboxPeak: run.outbox.peak,
      outboxAtStreamEnd: run.outbox.atStreamEnd,
      ...percentiles(run.stats.latencies),
      rss: run.rss,
      failed: run.failed,
      breakerOpen: run.breakerOpen,
    };
    return { throughput: throughput1, throughput3, latency, eventLatency, sustained };
  } finally {
    world.child.send({ cmd: 'exit' });
    world.child.disconnect();
  }
}
