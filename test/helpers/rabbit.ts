/**
 * A real RabbitMQ for the tests: Debian's rabbitmq-server (installed by .ci/run), run as a
 * node of its own (own name, ports and data directory under a temp dir, loopback only, no
 * systemd), so a test can stop and start it. Consumers use amqplib, a client other than the
 * daemon's. Skipped where the package is not installed.
 */
import amqplib from 'amqplib';

export { rabbit, RABBIT_AVAILABLE, type Rabbit } from '../../bench/rabbit-node.js';

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
