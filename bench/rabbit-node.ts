/**
 * A RabbitMQ node of its own for the tests and the bench: Debian's rabbitmq-server (installed
 * by .ci/run) with its own name, ports and data directory under a temp dir, loopback only,
 * no systemd, so a caller can stop and start it. Unavailable where the package is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** `port` (and port + 1 for Erlang distribution); default: the next of the tests' range */
export function rabbit(port = nextPort): Rabbit {
  if (port === nextPort) nextPort += 10;
  const dir = mkdtempSync(join(tmpdir(), 'callhook-rabbit-'));
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

