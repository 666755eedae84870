/**
 * `npm run bench`: runs the five benchmarks of issue 7 and prints one table.
 *
 *   node dist/bench/run.js [--smoke] [--json FILE]
 *
 * --smoke runs a seconds-long version (CI: it only proves the benchmarks still run);
 * --json writes the results (and the targets, and whether each was met) to FILE.
 * Everything runs on 127.0.0.1, bounded in size and time, and stops by itself.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { benchE2e } from './e2e.js';
import { benchKill } from './kill.js';
import { benchAmqp } from './amqp.js';
import { memoryChild } from './memory.js';
import { benchAmi, benchEsl } from './parse.js';

interface Row {
  name: string;
  result: string;
  reference: string;
  ratio: string;
  target: string;
  met: boolean | null;
}

const SIZES = {
  full: {
    ami: { messages: 40_000, oursPasses: 5, peerPasses: 3 },
    esl: { messages: 3_000, oursPasses: 5, peerPasses: 3 },
    e2e: { messages: 100_000, latencyMessages: 5_000, rate: 1000, timeoutMs: 60_000, eventLatency: { eventsPerSec: 1000, seconds: 10 }, sustained: { eventsPerSec: 1000, seconds: 120, webhooks: 3 } },
    kill: { kills: 20, events: 3_000, timeoutMs: 60_000 },
    amqp: 20_000,
    memory: [10_000, 100_000, 1_000_000] as const,
  },
  smoke: {
    ami: { messages: 2_000, oursPasses: 1, peerPasses: 1 },
    esl: { messages: 200, oursPasses: 1, peerPasses: 1 },
    e2e: { messages: 4_000, latencyMessages: 600, rate: 1000, timeoutMs: 30_000, eventLatency: { eventsPerSec: 200, seconds: 2 }, sustained: { eventsPerSec: 200, seconds: 3, webhooks: 3 } },
    kill: { kills: 2, events: 300, timeoutMs: 30_000 },
    amqp: 500,
    memory: [1_000, 2_000, 10_000] as const,
  },
};

const k = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));
const x = (n: number) => `${n.toFixed(n < 10 ? 2 : 1)}x`;
const ms = (n: number) => `${n.toFixed(2)} ms`;

function table(rows: Row[]): string {
  const head: Row = { name: 'benchmark', result: 'callhook', reference: 'peer / limit', ratio: 'ratio', target: 'target', met: null };
  const cells = (r: Row) => [r.name, r.result, r.reference, r.ratio, r.target, r.met === null ? 'met?' : r.met ? 'yes' : 'NO'];
  const all = [head, ...rows].map(cells);
  const widths = all[0].map((_, i) => Math.max(...all.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((s, i) => s.padEnd(widths[i])).join(' | ')} |`;
  return [line(all[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const smoke = args.includes('--smoke');
  const jsonAt = args.indexOf('--json');
  const jsonFile = jsonAt === -1 ? null : args[jsonAt + 1];
  if (jsonAt !== -1 && !jsonFile) throw new Error('--json needs a file name');
  const size = smoke ? SIZES.smoke : SIZES.full;
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const started = Date.now();
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};

  say('1/8 AMI parse + translate + track vs asterisk-manager ...');
  const ami = await benchAmi(size.ami);
  results.ami = ami;
  rows.push({
    name: '1. AMI parse+translate+track',
    result: `${k(ami.oursPerSec)} events/s`,
    reference: `asterisk-manager ${k(ami.peerPerSec)}/s`,
    ratio: x(ami.ratio),
    target: '>= 15x',
    met: ami.ratio >= 15,
  });

  say('2/8 ESL parse + translate + track vs modesl ...');
  const esl = await benchEsl(size.esl);
  results.esl = esl;
  rows.push(
    esl
      ? {
          name: '2. ESL parse+translate+track',
          result: `${k(esl.oursPerSec)} events/s`,
          reference: `modesl ${k(esl.peerPerSec)}/s`,
          ratio: x(esl.ratio),
          target: '>= 8x',
          met: esl.ratio >= 8,
        }
      : { name: '2. ESL parse+translate+track', result: 'not run: no ESL framer/translator yet', reference: '-', ratio: '-', target: '>= 8x', met: null },
  );

  say('3/8 + 4/8 + 6/8 end to end: fake PBX -> daemon (durable outbox) -> receiver; 1 and 3 webhooks, latency at a fixed rate, then sustained ...');
  const e2e = await benchE2e(size.e2e);
  results.e2e = e2e;
  for (const [t, n] of [[e2e.throughput, 1], [e2e.throughput3, 3]] as const) {
    rows.push({
      name: `3. end to end, ${n} webhook${n > 1 ? 's' : ''}`,
      result: `${k(t.perSec)} webhooks/s, ${t.daemonCpuUsPerWebhook} µs CPU each`,
      reference: `undici Pool ${k(t.limitPerSec)}/s, ${t.limitCpuUsPerRequest} µs`,
      ratio: x(t.ratio),
      target: '>= 0.7x',
      met: t.ratio >= 0.7,
    });
  }
  const l = e2e.latency;
  rows.push({
    name: `4. latency at ${k(l.rate)} frames/s`,
    result: `from the emitting frame: p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)}`,
    reference: `${l.webhooks} webhooks; plain Pool round trip at that pace: p50 ${ms(l.limit.p50)}, p99 ${ms(l.limit.p99)}; from the event's own frame (with call.initial held for routing): p99 ${ms(l.ownFrame.p99)}, max ${ms(l.ownFrame.max)}`,
    ratio: x(l.p99 / l.limit.p99),
    target: 'p99 <= 5 ms',
    met: l.p99 <= 5,
  });
  const el = e2e.eventLatency;
  rows.push({
    name: `4b. latency at ${k(el.eventsPerSec)} call events/s, 1 webhook, ${el.seconds} s`,
    result: `from the emitting frame: p50 ${ms(el.all.p50)}, p99 ${ms(el.all.p99)}, max ${ms(el.all.max)}`,
    reference: `${el.webhooks} webhooks; plain Pool round trip at that pace: p50 ${ms(el.limit.p50)}, p99 ${ms(el.limit.p99)}, max ${ms(el.limit.max)}; first second (cold start): p99 ${ms(el.firstSecond.p99)}, max ${ms(el.firstSecond.max)}; after it: p50 ${ms(el.afterFirstSecond.p50)}, p99 ${ms(el.afterFirstSecond.p99)}, max ${ms(el.afterFirstSecond.max)}`,
    ratio: x(el.all.p99 / el.limit.p99),
    target: 'p99 <= 5 ms',
    met: el.all.p99 <= 5,
  });
  const su = e2e.sustained;
  // flat: no growth once the heap and caches reached their working size (the first quarter of the stream)
  const rssFlat = su.rss.last - su.rss.settled < 50;
  rows.push({
    name: `6. sustained ${k(su.eventsPerSec)} events/s x ${su.webhooks} webhooks, ${su.seconds} s`,
    result: `${k(su.deliveriesPerSec)} deliveries/s (${su.deliveries} of ${su.owed} arrived); outbox peak ${su.outboxPeak}, ${su.outboxAtStreamEnd} at the end; p99 ${ms(su.p99)}; RSS ${su.rss.first} -> ${su.rss.settled} after the first quarter -> ${su.rss.last} MB (peak ${su.rss.peak}); ${su.failed} failed attempts, breaker open ${su.breakerOpen} s`,
    reference: `${k(su.eventsPerSec * su.webhooks)} deliveries/s owed`,
    ratio: x(su.deliveriesPerSec / Math.max(1, su.eventsPerSec * su.webhooks)),
    target: 'keeps up: outbox < a few hundred, p99 < 1 s, RSS flat, 0 failed',
    met: su.deliveries === su.owed && su.outboxPeak < 500 && su.p99 < 1000 && rssFlat && su.failed === 0,
  });

  say('5/8 memory (child process with --expose-gc) ...');
  const [open, small, large] = size.memory;
  const mem = await memoryChild(open, small, large);
  results.memory = mem;
  const growth = mem.rssAfterLargeMb - mem.rssAfterSmallMb;
  rows.push({
    name: `5a. memory, ${k(mem.openCalls)} calls open`,
    result: `RSS ${mem.rssOpenMb} MB, heap ${mem.heapOpenMb} MB`,
    reference: `empty: RSS ${mem.rssBaseMb} MB, heap ${mem.heapBaseMb} MB`,
    ratio: '-',
    target: 'RSS <= 100 MB',
    met: mem.rssOpenMb <= 100,
  });
  rows.push({
    name: `5b. RSS after ${k(mem.completedLarge)} vs ${k(mem.completedSmall)} calls`,
    result: `${mem.rssAfterLargeMb} MB vs ${mem.rssAfterSmallMb} MB`,
    reference: `heap ${mem.heapAfterLargeMb} vs ${mem.heapAfterSmallMb} MB`,
    ratio: `${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB`,
    target: 'no growth (< 5 MB)',
    met: growth < 5 && mem.leftOpen === 0,
  });

  const [small512, , big64k] = mem.readSizes;
  rows.push({
    name: `5c. heap per open call, ${k(big64k.openCalls)} calls, 64 KiB reads`,
    result: `${big64k.heapPerCallKiB} KiB`,
    reference: mem.readSizes.map((r) => `${r.readSize} B: ${r.heapPerCallKiB} KiB`).join(', '),
    ratio: x(big64k.heapPerCallKiB / Math.max(0.1, small512.heapPerCallKiB)),
    target: 'independent of read size (<= 1.5x)',
    met: big64k.heapPerCallKiB <= 1.5 * Math.max(1, small512.heapPerCallKiB),
  });

  say('7/8 kill window: SIGKILL the moment /metrics counts N events, store counted ...');
  const kill = await benchKill(size.kill);
  results.kill = kill;
  rows.push({
    name: `7. kill window, ${kill.kills} x SIGKILL at ${k(size.kill.events)} events`,
    result: `${kill.totalLost} events lost`,
    reference: `counted ${kill.counted.reduce((a, b) => a + b, 0)} events in all`,
    ratio: '-',
    target: '0 lost per kill',
    met: kill.totalLost === 0,
  });

  say('8/8 publishing to RabbitMQ: the amqp sink vs raw amqplib with confirms ...');
  const amqp = await benchAmqp(size.amqp);
  results.amqp = amqp;
  rows.push(
    amqp
      ? {
          name: `8. RabbitMQ publish with confirms, ${k(amqp.messages)} messages`,
          result: `${k(amqp.oursPerSec)} messages/s`,
          reference: `amqplib confirm channel ${k(amqp.amqplibPerSec)}/s`,
          ratio: x(amqp.ratio),
          target: 'reported (no target set)',
          met: null,
        }
      : { name: '8. RabbitMQ publish', result: 'not run: rabbitmq-server not installed', reference: '-', ratio: '-', target: '-', met: null },
  );

  const seconds = (Date.now() - started) / 1000;
  const env = `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(1)}`;
  process.stdout.write(`\ncallhook benchmarks${smoke ? ' (smoke: tiny sizes, numbers mean nothing)' : ''} (${env}; ${seconds.toFixed(0)} s)\n\n${table(rows)}\n`);
  if (jsonFile) {
    writeFileSync(jsonFile, `${JSON.stringify({ smoke, env, seconds, rows, results }, null, 2)}\n`);
    say(`results written to ${jsonFile}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
