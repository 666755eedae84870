import { describe, expect, it } from 'vitest';
import { newSecret, verifySignature as libraryVerify } from './helpers/verify.js';
import { signPayload, signatureHeaders, signingKey, verifySignature } from '../src/delivery/signing.js';

// The published Standard Webhooks / Svix test vector (used by their reference libraries' tests).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('Standard Webhooks signing', () => {
  it('reproduces the published test vector exactly', () => {
    expect(signPayload(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('verifies the published vector, and rejects a changed body, id, timestamp or secret', () => {
    const at = { nowSec: VECTOR.timestamp + 10 };
    const { secret, id, timestamp, body, signature } = VECTOR;
    expect(verifySignature(secret, id, timestamp, body, signature, at)).toBe(true);
    expect(verifySignature(secret, id, String(timestamp), body, signature, at)).toBe(true);
    expect(verifySignature(secret, id, timestamp, body + ' ', signature, at)).toBe(false);
    expect(verifySignature(secret, 'msg_other', timestamp, body, signature, at)).toBe(false);
    expect(verifySignature(secret, id, timestamp + 1, body, signature, at)).toBe(false);
    expect(verifySignature('whsec_' + Buffer.from('other key').toString('base64'), id, timestamp, body, signature, at)).toBe(false);
  });

  it('accepts one matching signature among several (key rotation) and ignores unknown versions', () => {
    const header = `v1a,xyz v1,bm9wZQ== ${VECTOR.signature}`;
    expect(verifySignature(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body, header, { nowSec: VECTOR.timestamp })).toBe(true);
  });

  it('rejects a stale timestamp outside the tolerance', () => {
    const { secret, id, timestamp, body, signature } = VECTOR;
    expect(verifySignature(secret, id, timestamp, body, signature, { nowSec: timestamp + 301 })).toBe(false);
    expect(verifySignature(secret, id, timestamp, body, signature, { nowSec: timestamp + 301, toleranceSec: Infinity })).toBe(true);
  });

  it('signs so that the official standardwebhooks verifier accepts it, and rejects a changed body', () => {
    const secret = newSecret();
    const ts = Math.floor(Date.now() / 1000);
    const sig = signPayload(secret, 'evt_1', ts, '{"a":1}');
    expect(libraryVerify(secret, 'evt_1', ts, '{"a":1}', sig)).toBe(true);
    expect(libraryVerify(secret, 'evt_1', ts, '{"a":2}', sig)).toBe(false);
    expect(signingKey(secret).length).toBe(32);
  });

  it('signs the empty body for a GET and builds the three headers', () => {
    const h = signatureHeaders('s3cret', 'evt_9', 1700000001, null);
    expect(h['webhook-id']).toBe('evt_9');
    expect(h['webhook-timestamp']).toBe('1700000001');
    expect(h['webhook-signature']).toBe(signPayload('s3cret', 'evt_9', 1700000001, ''));
    expect(signatureHeaders(null, 'evt_9', 1700000001, '{}')['webhook-signature']).toBeUndefined();
  });
});
