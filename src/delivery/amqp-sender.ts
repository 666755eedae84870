/**
 * One delivery published to a RabbitMQ exchange (an `amqp:` sink): rabbitmq-client keeps one
 * connection per sink, reconnecting with backoff on its own, and a publisher in confirm mode,
 * so a publish resolves only when the broker has the message. The message is persistent, its
 * `message_id` the event id, with `timestamp`, `content_type`, the headers call_id, sequence
 * and pbx, and the Standard Webhooks signature headers when the sink has a signing secret.
 * Like HttpSender it decides nothing: an outcome with status 200 (confirmed) or an error goes
 * back to the dispatcher, whose retries, breaker and dead letters apply unchanged.
 */
import { performance } from 'node:perf_hooks';
import { Connection, type Publisher } from 'rabbitmq-client';
import type { Logger } from 'pino';
import type { WebhookConfig } from '../config/types.js';
import { LogThrottle } from '../observe/throttle.js';
import type { RequestOutcome } from './http-sender.js';
import type { DeliveryRow } from './outbox.js';
import { signatureHeaders } from './signing.js';

export interface SinkState {
  name: string;
  /** host:port/vhost, never the credentials */
  broker: string;
  connected: boolean;
  /** why it is not connected (the broker's refusal, or the socket error) */
  error: string | null;
}

interface Link {
  url: string;
  exchange: string;
  conn: Connection;
  pub: Publisher;
  state: SinkState;
}

/** the broker's address as a log line or /readyz may show it */
export function brokerOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname && u.pathname !== '/' ? u.pathname : '/'}`;
  } catch {
    return '[invalid url]';
  }
}

export class AmqpSender {
  private readonly links = new Map<string, Link>();
  /** one line per sink per minute at most while a broker keeps refusing */
  private readonly errorLog = new LogThrottle(60_000);

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  async send(row: DeliveryRow, wh: WebhookConfig): Promise<RequestOutcome> {
    const at = this.now();
    const t0 = performance.now();
    const link = this.link(wh);
    const body = Buffer.from(row.body ?? '', 'utf8');
    try {
      const headers: Record<string, unknown> = row.headers ? (JSON.parse(row.headers) as Record<string, unknown>) : {};
      Object.assign(headers, signatureHeaders(wh.signing_secret, row.event_id, Math.floor(at / 1000), row.body));
      await link.pub.send(
        {
          exchange: link.exchange,
          routingKey: row.url,
          messageId: row.event_id,
          timestamp: Math.floor(at / 1000),
          contentType: row.content_type ?? 'application/json',
          durable: true,
          headers,
        },
        body,
      );
      return { at, ms: Math.round(performance.now() - t0), status: 200, retryAfter: null, error: null, snippet: null, aborted: null };
    } catch (err) {
      // a publish that waited for a refused connection: the broker's reason says more than the wait
      const why = !link.state.connected && link.state.error ? `${link.state.error} (${describe(err)})` : describe(err);
      const error = `AMQP ${link.state.broker}: ${why}`;
      return { at, ms: Math.round(performance.now() - t0), status: null, retryAfter: null, error, snippet: null, aborted: null };
    }
  }

  /** each amqp sink's connection, for /readyz and the metrics */
  states(): SinkState[] {
    return [...this.links.values()].map((l) => ({ ...l.state }));
  }

  /**
   * The sinks of a (reloaded) config: the ones gone or changed are closed; new ones connect
   * at once (so /readyz tells a wrong password before the first call).
   */
  configure(webhooks: WebhookConfig[]): void {
    const want = new Map(webhooks.filter((w) => w.sink === 'amqp' && w.enabled).map((w) => [w.name, w]));
    for (const [name, l] of this.links) {
      const w = want.get(name);
      if (!w || w.url !== l.url || w.exchange !== l.exchange) {
        this.links.delete(name);
        void this.closeLink(l);
      }
    }
    for (const w of want.values()) this.link(w);
  }

  async close(): Promise<void> {
    const all = [...this.links.values()];
    this.links.clear();
    await Promise.allSettled(all.map((l) => this.closeLink(l)));
  }

  private link(wh: WebhookConfig): Link {
    const existing = this.links.get(wh.name);
    if (existing && existing.url === wh.url && existing.exchange === wh.exchange) return existing;
    if (existing) void this.closeLink(existing);
    const exchange = wh.exchange ?? 'callhook';
    const state: SinkState = { name: wh.name, broker: brokerOf(wh.url), connected: false, error: null };
    const conn = new Connection({
      url: wh.url,
      connectionName: `callhook ${wh.name}`,
      connectionTimeout: wh.timeout_ms,
      // a publish waits this long for a connection, then fails (and is retried by the schedule)
      acquireTimeout: wh.timeout_ms,
      retryLow: 500,
      retryHigh: 10_000,
    });
    conn.on('connection', () => {
      state.connected = true;
      state.error = null;
      this.logger.info({ sink: wh.name, broker: state.broker, exchange }, `AMQP sink "${wh.name}" connected to ${state.broker}`);
    });
    conn.on('error', (err: unknown) => {
      state.connected = false;
      state.error = describe(err);
      const t = this.errorLog.take(wh.name);
      if (t) {
        this.logger.error(
          { sink: wh.name, broker: state.broker, reason: state.error, suppressed: t.suppressed },
          `AMQP sink "${wh.name}" cannot use ${state.broker}: ${state.error}; retrying with backoff, deliveries wait in the store`,
        );
      }
    });
    const pub = conn.createPublisher({ confirm: true, maxAttempts: 1, exchanges: [{ exchange, type: 'topic', durable: true }] });
    const link: Link = { url: wh.url, exchange, conn, pub, state };
    this.links.set(wh.name, link);
    return link;
  }

  private async closeLink(l: Link): Promise<void> {
    l.state.connected = false;
    try {
      await l.pub.close();
      await l.conn.close();
    } catch {
      l.conn.unsafeDestroy();
    }
  }
}

/** the broker's reason (ACCESS_REFUSED, NOT_ALLOWED for a vhost...) or the socket error, never the URL */
function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = (e?.message ?? String(err)).replace(/amqps?:\/\/[^\s]*/g, '[url]');
  return e?.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
}
