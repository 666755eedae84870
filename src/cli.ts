#!/usr/bin/env node
/**
 * The command line (DESIGN §5): run, logs, check, simulate, demo, deliveries, replay, send-test.
 * Each command is a thin shell over a module, loaded when that command runs (so `--version`
 * or `check` do not pay for SQLite, undici and pino); exit codes follow sysexits.h.
 */
import { Command, Option } from 'commander';
import { createRequire } from 'node:module';
import { EVENT_NAMES, type EventName } from './calls/events.js';
import { EXIT } from './exit.js';
import { VERSION } from './version.js';

const DEFAULT_CONFIG = '/etc/callhook/callhook.yaml';

const program = new Command('callhook')
  .description('Asterisk AMI / FreeSWITCH ESL call events -> durable, signed webhooks')
  .version(VERSION);

program
  .command('run')
  .description('run the daemon (what systemd starts)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .option('--pretty', 'human-readable logs for a terminal (pino-pretty)')
  .option('--log-pretty', 'same as --pretty')
  .action(async (o: { config: string; pretty?: boolean; logPretty?: boolean }) => {
    let pretty = Boolean(o.pretty || o.logPretty);
    if (pretty && !canResolve('pino-pretty')) {
      // installs made with `npm ci --omit=dev` have no pino-pretty: keep JSON, say how to get it
      process.stderr.write('callhook: --pretty needs the pino-pretty package; logging JSON (or pipe: callhook run | npx pino-pretty)\n');
      pretty = false;
    }
    const { Daemon } = await import('./daemon.js');
    try {
      await Daemon.start({ configPath: o.config, handleSignals: true, pretty });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
        // http.listen cannot be bound: a clear one-liner instead of a stack
        process.stderr.write(`callhook: http.listen: ${(err as Error).message}\n`);
        process.exit(EXIT.UNAVAILABLE);
      }
      process.exit(await reportStartError(err));
    }
  });

function canResolve(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

program
  .command('logs')
  .description("pretty-print callhook's JSON log lines from stdin, one line each (journalctl -u callhook -f -o cat | callhook logs)")
  .action(async () => {
    const { prettyOptions } = await import('./observe/logger.js');
    const { default: pretty } = await import('pino-pretty');
    const out = pretty({ ...prettyOptions(), destination: 1, sync: true });
    process.stdin.pipe(out);
    await new Promise<void>((resolve) => out.on('finish', () => resolve()).on('close', () => resolve()));
  });

program
  .command('check')
  .description('validate a configuration file; exit 0, or 78 with FILE:LINE:COL problems')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .action(async (o: { config: string }) => {
    const { checkConfigFile } = await import('./check.js');
    const result = checkConfigFile(o.config);
    if (!result.ok) {
      for (const p of result.problems) process.stderr.write(`${p}\n`);
      process.exit(EXIT.CONFIG);
    }
    const c = result.config;
    process.stdout.write(`${o.config}: OK (${c.pbx.length} pbx, ${c.webhooks.length} webhooks)\n`);
  });

program
  .command('simulate')
  .description('feed a raw AMI/ESL capture through the parser, translator and tracker; print one JSON event per line')
  .addOption(new Option('--pbx <type>', 'capture type').choices(['asterisk', 'freeswitch']).makeOptionMandatory())
  .option('-c, --config <file>', 'use this config (trunks, recording settings)')
  .argument('<capture>', 'raw capture file (.ami / .esl)')
  .action(async (capture: string, o: { pbx: 'asterisk' | 'freeswitch'; config?: string }) => {
    const { simulate } = await import('./simulate.js');
    let config = null;
    if (o.config) {
      const { loadConfigFile } = await import('./check.js');
      try {
        config = loadConfigFile(o.config);
      } catch (err) {
        process.exit(await reportStartError(err));
      }
    }
    const events = await simulate(o.pbx, capture, config);
    process.stdout.write(events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : ''));
  });

program
  .command('demo')
  .description('replay bundled real PBX captures into the real pipeline and a local webhook receiver')
  .addOption(new Option('--pbx <type>', 'which PBX to replay').choices(['asterisk', 'freeswitch', 'both']).default('both'))
  .option('--speed <n>', 'replay speed (1 = recorded pace)', '6')
  .action(async (o: { pbx: 'asterisk' | 'freeswitch' | 'both'; speed: string }) => {
    const { runDemo } = await import('./demo/run.js');
    process.exit(await runDemo({ pbx: o.pbx, speed: Number(o.speed) || 6 }));
  });

program
  .command('deliveries')
  .description("show deliveries and their attempts from the daemon's store")
  .option('-c, --config <file>', 'configuration file (for storage.path)', DEFAULT_CONFIG)
  .option('--store <path>', 'storage path (instead of the config)')
  .option('--call <id>', 'one call')
  .option('--webhook <name>', 'one webhook')
  .addOption(new Option('--status <status>', 'by status').choices(['pending', 'failed', 'dead', 'delivered']))
  .option('--since <time>', 'ISO time or a duration ago, e.g. 1h')
  .option('--limit <n>', 'at most this many deliveries', '100')
  .option('--json', 'JSON lines instead of a table')
  .action(async (o: { config: string; store?: string; call?: string; webhook?: string; status?: 'pending' | 'failed' | 'dead' | 'delivered'; since?: string; limit: string; json?: boolean }) => {
    const { listDeliveries, formatDeliveries } = await import('./delivery/inspect.js');
    const store = await storeOf(o);
    if (o.webhook) knownWebhook(store, o.webhook);
    let rows;
    try {
      rows = listDeliveries(store.path, { callId: o.call, webhook: o.webhook, status: o.status, since: parseSince(o.since), limit: Number(o.limit) });
    } catch (err) {
      process.exit(await reportStartError(err)); // no store / not a database: one line, exit 73
    }
    process.stdout.write(o.json ? rows.map((r) => JSON.stringify(r)).join('\n') + '\n' : formatDeliveries(rows) + '\n');
  });

program
  .command('replay')
  .description('re-queue deliveries for a webhook: one call, everything since a time, or the dead letters')
  .option('-c, --config <file>', 'configuration file (for storage.path)', DEFAULT_CONFIG)
  .option('--store <path>', 'storage path (instead of the config)')
  .requiredOption('--webhook <name>', 'webhook name')
  .option('--call <id>', 'one call')
  .option('--since <time>', 'ISO time or a duration ago, e.g. 2h')
  .option('--dead', 'the dead letters')
  .action(async (o: { config: string; store?: string; webhook: string; call?: string; since?: string; dead?: boolean }) => {
    if (!o.call && !o.since && !o.dead) {
      process.stderr.write('replay: say which deliveries: --call ID, --since T or --dead\n');
      process.exit(64);
    }
    const { replay } = await import('./delivery/inspect.js');
    const store = await storeOf(o);
    knownWebhook(store, o.webhook);
    let n: number;
    try {
      n = replay(store.path, { webhook: o.webhook, callId: o.call, since: parseSince(o.since), dead: o.dead });
    } catch (err) {
      process.exit(await reportStartError(err)); // no store / not a database: one line, exit 73
    }
    process.stdout.write(`re-queued ${n} deliveries for ${o.webhook}\n`);
  });

program
  .command('send-test')
  .description("send one realistic sample event, in that webhook's format and signed, and print the response")
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
  .requiredOption('--webhook <name>', 'webhook name')
  .addOption(new Option('--event <name>', 'event name').choices([...EVENT_NAMES]).default('call.connected'))
  .action(async (o: { config: string; webhook: string; event: EventName }) => {
    const { sendTest } = await import('./hooks/send-test.js');
    const { loadConfigFile } = await import('./check.js');
    let config;
    try {
      config = loadConfigFile(o.config);
    } catch (err) {
      process.exit(await reportStartError(err));
    }
    process.exit(await sendTest(config, o.webhook, o.event, process.stdout));
  });

/**
 * The store the command works on: `--store`, or the config's storage.path. Only that and the
 * webhook names are read from the config, so the PBX and webhook secrets need not be in the
 * environment (`sudo -u callhook callhook deliveries` works as documented).
 */
async function storeOf(o: { config: string; store?: string }): Promise<{ path: string; webhooks: string[] | null }> {
  if (o.store) return { path: o.store, webhooks: null };
  const { loadStoreSettings } = await import('./config/load.js');
  try {
    const s = loadStoreSettings(o.config);
    return { path: s.storagePath, webhooks: s.webhooks };
  } catch (err) {
    process.exit(await reportStartError(err));
  }
}

/** exits 64 naming the configured webhooks when `name` is not one of them */
function knownWebhook(store: { webhooks: string[] | null }, name: string): void {
  if (store.webhooks === null || store.webhooks.includes(name)) return;
  const known = store.webhooks.length ? store.webhooks.map((w) => `"${w}"`).join(', ') : 'none';
  process.stderr.write(`callhook: no webhook named "${name}" in the configuration (configured: ${known})\n`);
  process.exit(64);
}

function parseSince(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+)(s|m|h|d)$/.exec(s);
  if (m) return Date.now() - Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(s);
  if (Number.isNaN(t)) {
    process.stderr.write(`--since: expected an ISO time or a duration like 2h, got "${s}"\n`);
    process.exit(64);
  }
  return t;
}

/** Print a start-up error the way an operator can act on it; return the exit code. */
async function reportStartError(err: unknown): Promise<number> {
  const [{ ConfigError }, { StorageError }] = await Promise.all([import('./config/load.js'), import('./delivery/outbox.js')]);
  if (err instanceof ConfigError) {
    for (const p of err.problems) process.stderr.write(`${p}\n`);
    return EXIT.CONFIG;
  }
  if (err instanceof StorageError) {
    process.stderr.write(`callhook: ${err.message}\n`);
    return EXIT.CANTCREAT;
  }
  process.stderr.write(`callhook: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  return EXIT.SOFTWARE;
}

await program.parseAsync(process.argv);
