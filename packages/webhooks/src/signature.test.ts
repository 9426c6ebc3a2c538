import { describe, expect, it } from 'vitest';

import {
  generateWebhookSecret,
  isWebhookSecret,
  signedHeaders,
  signPayload,
  verifyWebhook,
  WebhookVerificationError,
} from './signature.js';

// The published Standard Webhooks test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('Standard Webhooks v1 signing', () => {
  it('reproduces the published test vector', () => {
    expect(signPayload(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('verifies the vector at its own time and returns the parsed body', () => {
    const headers = {
      'webhook-id': VECTOR.id,
      'webhook-timestamp': String(VECTOR.timestamp),
      'webhook-signature': `v1,bm9wZQ== ${VECTOR.signature}`,
    };
    expect(verifyWebhook(headers, VECTOR.body, VECTOR.secret, { now: VECTOR.timestamp * 1000 })).toEqual({
      test: 2432232314,
    });
    // A Fetch API Headers object works the same.
    const fetchHeaders = new Headers(headers);
    expect(
      verifyWebhook(fetchHeaders, Buffer.from(VECTOR.body), VECTOR.secret, { now: VECTOR.timestamp * 1000 }),
    ).toEqual({ test: 2432232314 });
  });

  it('refuses a changed body, another secret, a stale timestamp and missing headers', () => {
    const at = { now: VECTOR.timestamp * 1000 };
    const headers = {
      'webhook-id': VECTOR.id,
      'webhook-timestamp': String(VECTOR.timestamp),
      'webhook-signature': VECTOR.signature,
    };
    expect(() => verifyWebhook(headers, '{"test": 2432232315}', VECTOR.secret, at)).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(headers, VECTOR.body, generateWebhookSecret(), at)).toThrow(
      /no webhook-signature/,
    );
    expect(() =>
      verifyWebhook(headers, VECTOR.body, VECTOR.secret, { now: (VECTOR.timestamp + 301) * 1000 }),
    ).toThrow(/more than 300 s/);
    expect(() => verifyWebhook({ 'webhook-id': VECTOR.id }, VECTOR.body, VECTOR.secret, at)).toThrow(
      /missing/,
    );
    expect(() =>
      verifyWebhook({ ...headers, 'webhook-id': 'msg_other' }, VECTOR.body, VECTOR.secret, at),
    ).toThrow(WebhookVerificationError);
  });

  it('signs with every secret during a rotation, and either verifies', () => {
    const [a, b] = [generateWebhookSecret(), generateWebhookSecret()];
    const now = Date.now();
    const h = signedHeaders([a, b], 'msg_1', Math.floor(now / 1000), '{"x":1}');
    expect(h['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifyWebhook(h, '{"x":1}', a, { now })).toEqual({ x: 1 });
    expect(verifyWebhook(h, '{"x":1}', b, { now })).toEqual({ x: 1 });
    expect(() => signedHeaders([a], 'msg.1', 1, '{}')).toThrow(/must not contain/);
  });

  it('makes 32-byte whsec_ secrets and rejects malformed ones', () => {
    const s = generateWebhookSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(isWebhookSecret(s)).toBe(true);
    expect(isWebhookSecret(VECTOR.secret)).toBe(true);
    expect(isWebhookSecret('whsec_short')).toBe(false);
    expect(isWebhookSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toBe(false);
  });
});
