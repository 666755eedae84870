/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): the sender signs
 * "<webhook-id>.<webhook-timestamp>.<body>" with HMAC-SHA256 and sends
 * `webhook-signature: v1,<base64>`. The secret is `whsec_<base64 of 24..64 key bytes>`, the
 * only form the spec's verifier libraries accept (the config refuses anything else); its
 * key is the decoded bytes. Used by the dispatcher on every attempt, by `send-test` and by
 * the demo's receiver.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** the HMAC key bytes for a configured `whsec_…` secret */
export function signingKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; a GET (null body) signs the empty string */
export function signPayload(secret: string, id: string, timestampSec: number, body: string | null): string {
  const mac = createHmac('sha256', signingKey(secret))
    .update(`${id}.${timestampSec}.${body ?? ''}`, 'utf8')
    .digest('base64');
  return `v1,${mac}`;
}

export interface VerifyOptions {
  /** accepted clock difference in seconds (default 300, as the reference libraries); Infinity disables */
  toleranceSec?: number;
  /** the verifier's clock, unix seconds (default now) */
  nowSec?: number;
}

/**
 * Checks a `webhook-signature` header value (space-separated list of `v1,<sig>` entries,
 * any one matching is enough) and the timestamp's freshness. Returns true when valid.
 */
export function verifySignature(
  secret: string,
  id: string,
  timestamp: string | number,
  body: string | null,
  signatureHeader: string,
  opts: VerifyOptions = {},
): boolean {
  const ts = typeof timestamp === 'number' ? timestamp : Number(timestamp);
  if (!Number.isInteger(ts)) return false;
  const tolerance = opts.toleranceSec ?? 300;
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > tolerance) return false;
  const expected = Buffer.from(signPayload(secret, id, ts, body).slice(3), 'base64');
  for (const entry of signatureHeader.split(' ')) {
    const [version, sig] = entry.split(',', 2);
    if (version !== 'v1' || !sig) continue;
    const given = Buffer.from(sig, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  }
  return false;
}

/** the three Standard Webhooks headers for one attempt (no signature header without a secret) */
export function signatureHeaders(
  secret: string | null,
  id: string,
  timestampSec: number,
  body: string | null,
): Record<string, string> {
  const headers: Record<string, string> = {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
  };
  if (secret) headers['webhook-signature'] = signPayload(secret, id, timestampSec, body);
  return headers;
}
