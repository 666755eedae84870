/**
 * The boundary between the hooks side (routing + rendering) and the delivery side
 * (durable outbox + dispatcher). A delivery is one event rendered for one webhook.
 * Its body is fixed when it is rendered, so every retry sends the same bytes with the
 * same `webhook-id`; only the signature timestamp changes per attempt.
 */
export interface RenderedDelivery {
  /** the event id (same on every attempt: `webhook-id` header, and `id` in default payloads) */
  eventId: string;
  webhook: string;
  /** ordering key: deliveries with the same (webhook, callKey) go out one at a time, in order */
  callKey: string;
  eventName: string;
  method: 'POST' | 'GET';
  /** full URL (for GET it already carries the query string) */
  url: string;
  /** request body (POST), or null for GET */
  body: string | null;
  contentType: string | null;
  /** amqp sinks: the message headers, as JSON (call_id, sequence, pbx) */
  headers?: string | null;
}

export type DeliveryStatus = 'pending' | 'failed' | 'dead' | 'delivered';

/** One attempt's outcome, as logged and as kept in the store. */
export interface AttemptResult {
  eventId: string;
  webhook: string;
  eventName: string;
  callKey: string;
  attempt: number;
  status: number | null;
  ok: boolean;
  ms: number;
  error: string | null;
  /** first bytes of the response body */
  responseSnippet: string | null;
}

/** What the daemon hands rendered deliveries to. */
export interface DeliverySink {
  enqueue(deliveries: RenderedDelivery[]): void;
  /** apply a new set of webhooks (reload) without losing queued deliveries */
  updateWebhooks(webhooks: import('../config/types.js').WebhookConfig[]): void;
  /** stop intake, let in-flight requests finish for up to `graceMs`, keep the rest */
  close(graceMs?: number): Promise<void>;
}
