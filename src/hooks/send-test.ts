/**
 * `callhook send-test`: one realistic sample event, rendered in the webhook's format,
 * signed like real deliveries, sent once (no retries, no store), and the response printed.
 * Operators use it while wiring up a CRM.
 */
import { request } from 'undici';
import type { Writable } from 'node:stream';
import type { EventName } from '../calls/events.js';
import type { Config } from '../config/types.js';
import { renderFor } from './render.js';
import { sampleEvent } from './sample.js';
import { signatureHeaders } from '../delivery/signing.js';
import { redactUrl } from '../observe/logger.js';
import pino from 'pino';
import type { CallEvent } from '../calls/events.js';
import type { WebhookConfig } from '../config/types.js';
import { AmqpSender, brokerOf } from '../delivery/amqp-sender.js';
import { amqpAddress } from './router.js';
import type { RenderedPayload } from './render.js';

export async function sendTest(config: Config, webhookName: string, eventName: EventName, out: Writable): Promise<number> {
  const webhook = config.webhooks.find((w) => w.name === webhookName);
  if (!webhook) {
    out.write(`no webhook named "${webhookName}" (configured: ${config.webhooks.map((w) => w.name).join(', ') || 'none'})\n`);
    return 64;
  }
  const pbx = config.pbx[0] ?? { name: 'pbx1', type: 'asterisk' as const };
  const ev = sampleEvent(eventName, { name: pbx.name, type: pbx.type });
  const payload = renderFor(ev, webhook);
  if (!payload) {
    out.write(`format "${webhook.format}" sends nothing for ${eventName}; try another --event\n`);
    return 65;
  }
  if (webhook.sink === 'amqp') return publishTest(webhook, ev, payload, out);
  const headers: Record<string, string> = {
    ...webhook.headers,
    ...signatureHeaders(webhook.signing_secret, ev.id, Math.floor(Date.now() / 1000), payload.body),
    'user-agent': 'callhook/send-test',
  };
  if (payload.contentType) headers['content-type'] = payload.contentType;
  out.write(`${webhook.method} ${redactUrl(payload.url)}  (${webhook.format}, ${eventName}, webhook-id ${ev.id}${webhook.signing_secret ? ', signed' : ''})\n`);
  if (payload.body) out.write(`${payload.body}\n`);
  const started = performance.now();
  try {
    const res = await request(payload.url, {
      method: webhook.method,
      headers,
      body: payload.body ?? undefined,
      headersTimeout: webhook.timeout_ms,
      bodyTimeout: webhook.timeout_ms,
    });
    const text = await res.body.text();
    const ms = Math.round(performance.now() - started);
    out.write(`-> ${res.statusCode} in ${ms} ms\n${text.slice(0, 2000)}\n`);
    return res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1;
  } catch (err) {
    out.write(`-> failed: ${(err as Error).message}\n`);
    return 1;
  }
}

/** an amqp sink: one persistent message, published with confirms, as a delivery would be */
async function publishTest(sink: WebhookConfig, ev: CallEvent, payload: RenderedPayload, out: Writable): Promise<number> {
  const { url: routingKey, headers } = amqpAddress(ev);
  out.write(`publish to ${brokerOf(sink.url)} exchange ${sink.exchange} routing key ${routingKey}  (${sink.format}, message_id ${ev.id}${sink.signing_secret ? ', signed' : ''})\n`);
  if (payload.body) out.write(`${payload.body}\n`);
  const sender = new AmqpSender(pino({ level: 'silent' }), Date.now);
  try {
    const res = await sender.send(
      { id: 0, event_id: ev.id, webhook: sink.name, call_key: '', event_name: ev.event_name, method: 'POST', url: routingKey, body: payload.body, content_type: payload.contentType, headers, created_at: 0, status: 'pending', attempts: 0, retry_from: 0, next_attempt_at: 0, last_status: null, last_error: null, last_ms: null, last_response: null, last_attempt_at: null, delivered_at: null },
      sink,
    );
    out.write(res.error ? `-> failed: ${res.error}\n` : `-> confirmed by the broker in ${res.ms} ms\n`);
    return res.error ? 1 : 0;
  } finally {
    await sender.close();
  }
}
