/**
 * Benchmark 8, publishing to RabbitMQ: the daemon's amqp sink path (AmqpSender: the
 * rabbitmq-client publisher in confirm mode, persistent messages with the Standard Webhooks
 * headers signed per message) against raw amqplib publishing the same bodies on a confirm
 * channel, each with 16 publishes awaiting their confirm (what the dispatcher allows one
 * sink), to the same broker (a node of its own on loopback), side by side in one run.
 */
import amqplib from 'amqplib';
import pino from 'pino';
import { performance } from 'node:perf_hooks';
import { AmqpSender } from '../src/delivery/amqp-sender.js';
import type { WebhookConfig } from '../src/config/types.js';
import type { DeliveryRow } from '../src/delivery/outbox.js';
import { rabbit, RABBIT_AVAILABLE } from './rabbit-node.js';

const IN_FLIGHT = 16;

export interface AmqpResult {
  messages: number;
  oursPerSec: number;
  amqplibPerSec: number;
  ratio: number;
}

async function pool(n: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < n) await one(next++);
  }));
  return (n / (performance.now() - t0)) * 1000;
}

export async function benchAmqp(messages: number): Promise<AmqpResult | null> {
  if (!RABBIT_AVAILABLE) return null;
  const broker = rabbit(25900);
  broker.start();
  try {
    const body = JSON.stringify({ pad: 'x'.repeat(900) });
    const sink: WebhookConfig = {
      name: 'bench', sink: 'amqp', url: broker.url, exchange: 'bench', method: 'POST', events: ['*'], filter: null, format: 'default',
      template: null, token: null, signing_secret: 'whsec_YmVuY2gtc2lnbmluZy1zZWNyZXQtMTIzNDU2Nzg=', headers: {}, timeout_ms: 5000,
      retry: { schedule_ms: [0] }, allow_http: false, enabled: true,
    };
    const row = (i: number): DeliveryRow => ({
      id: i, event_id: `evt-${i}`, webhook: 'bench', call_key: 'bench:1', event_name: 'call.connected', method: 'POST', url: 'bench.LOCAL_USER.call.connected',
      body, content_type: 'application/json', headers: JSON.stringify({ call_id: '1', sequence: i, pbx: 'bench' }), created_at: 0, status: 'pending',
      attempts: 0, retry_from: 0, next_attempt_at: 0, last_status: null, last_error: null, last_ms: null, last_response: null, last_attempt_at: null, delivered_at: null,
    });
    // the daemon's path
    const sender = new AmqpSender(pino({ level: 'silent' }), Date.now);
    const warm = await sender.send(row(-1), sink);
    if (warm.error) throw new Error(`amqp bench: ${warm.error}`);
    const oursPerSec = await pool(messages, async (i) => {
      const r = await sender.send(row(i), sink);
      if (r.error) throw new Error(`amqp bench: ${r.error}`);
    });
    await sender.close();
    // raw amqplib, confirm channel
    const conn = await amqplib.connect(broker.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('bench', 'topic', { durable: true });
    const buf = Buffer.from(body);
    const amqplibPerSec = await pool(messages, (i) => new Promise<void>((resolve, reject) => {
      ch.publish('bench', 'bench.LOCAL_USER.call.connected', buf, { persistent: true, messageId: `evt-${i}`, contentType: 'application/json', timestamp: Math.floor(Date.now() / 1000) }, (err) => (err ? reject(err) : resolve()));
    }));
    await conn.close();
    return { messages, oursPerSec, amqplibPerSec, ratio: oursPerSec / amqplibPerSec };
  } finally {
    broker.shutdown();
  }
}
