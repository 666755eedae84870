/**
 * A real RabbitMQ for the tests: Debian's rabbitmq-server (installed by .ci/run), run as a
 * node of its own (own name, ports and data directory under a temp dir, loopback only, no
 * systemd), so a test can stop and start it. Consumers use amqplib, a client other than the
 * daemon's. Skipped where the package is not installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { tempDir } from './config.js';

const BIN = '/usr/lib/rabbitmq/bin';
export const RABBIT_AVAILABLE = existsSync(join(BIN, 'rabbitmq-server'));

export interface Rabbit {
  port: number;
  /** amqp://guest:guest@127.0.0.1:PORT/ (guest may log in over loopback) */
  url: string;
  start(): void;
  stop(): void;
  shutdown(): void;
}

let nextPort = 25700;

export function rabbit(): Rabbit {
  const port = nextPort;
  nextPort += 10;
  const dir = tempDir();
  const node = `callhook${port}@localhost`;
  mkdirSync(join(dir, 'log'), { recursive: true });
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const env = {
    ...process.env,
    HOME: dir,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(port + 1),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    // loopback only: Erlang's port mapper and the node's distribution port too
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const ctl = (args: string[], timeoutMs = 90_000) => spawnSync(join(BIN, 'rabbitmqctl'), ['-n', node, ...args], { env, encoding: 'utf8', timeout: timeoutMs });
  return {
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}/`,
    start() {
      execFileSync(join(BIN, 'rabbitmq-server'), ['-detached'], { env, stdio: 'ignore' });
      // `wait PIDFILE`: until the node wrote its pid file and finished booting
      const r = ctl(['wait', join(dir, 'pid'), '--timeout', '90']);
      if (r.status !== 0) throw new Error(`rabbitmq did not start: ${r.stdout} ${r.stderr}`);
    },
    stop() {
      // with the pid file, stop returns once the process is gone
      ctl(['stop', join(dir, 'pid')], 60_000);
    },
    /** stop, and Erlang's port mapper with it (nothing left listening) */
    shutdown() {
      this.stop();
      spawnSync('epmd', ['-kill'], { env, timeout: 10_000 });
    },
  };
}

export interface Consumed {
  routingKey: string;
  body: string;
  properties: amqplib.MessageProperties;
}

/** a queue bound to `exchange` with `pattern`, collecting every message it gets (acked) */
export async function consume(url: string, exchange: string, pattern = '#'): Promise<{ messages: Consumed[]; close(): Promise<void> }> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: true });
  const q = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(q.queue, exchange, pattern);
  const messages: Consumed[] = [];
  await ch.consume(q.queue, (m) => {
    if (!m) return;
    messages.push({ routingKey: m.fields.routingKey, body: m.content.toString('utf8'), properties: m.properties });
    ch.ack(m);
  });
  return {
    messages,
    close: async () => {
      await conn.close().catch(() => undefined);
    },
  };
}

/** a durable queue bound to `exchange`: it keeps what the broker confirmed across a broker restart */
export async function durableQueue(url: string, exchange: string, queue: string): Promise<void> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: true });
  await ch.assertQueue(queue, { durable: true });
  await ch.bindQueue(queue, exchange, '#');
  await conn.close();
}

/** everything in `queue`, taken off it */
export async function drain(url: string, queue: string): Promise<Consumed[]> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  const out: Consumed[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (!m) break;
    out.push({ routingKey: m.fields.routingKey, body: m.content.toString('utf8'), properties: m.properties });
  }
  await conn.close();
  return out;
}
