/**
 * Test helper: verifies a request's Standard Webhooks signature with the official
 * `standardwebhooks` package (what a receiver would use), not with callhook's own code.
 */
import { Webhook } from 'standardwebhooks';

/** true when `signature` (the webhook-signature header) verifies for this id, timestamp and body */
export function verifySignature(secret: string, id: string, timestamp: string | number, body: string | null, signature: string): boolean {
  try {
    new Webhook(secret).verify(body ?? '', {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    });
    return true;
  } catch {
    return false;
  }
}

/** a fresh valid secret, as `callhook` accepts it: whsec_ + base64 of 32 random bytes */
export function newSecret(): string {
  return `whsec_${Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)).toString('base64')}`;
}
