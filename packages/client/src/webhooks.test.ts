import { describe, expect, it } from 'vitest';

import { verifyWebhook, WebhookVerificationError } from './webhooks.js';

// The published Standard Webhooks test vector (also in packages/webhooks/src/signature.test.ts).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const headers = {
  'webhook-id': VECTOR.id,
  'webhook-timestamp': String(VECTOR.timestamp),
  'webhook-signature': VECTOR.signature,
};
const at = { now: VECTOR.timestamp * 1000 };

describe('verifyWebhook (WebCrypto)', () => {
  it('verifies the published test vector from a record, a Headers object and raw bytes', async () => {
    await expect(verifyWebhook(headers, VECTOR.body, VECTOR.secret, at)).resolves.toEqual({
      test: 2432232314,
    });
    const rotated = new Headers({ ...headers, 'webhook-signature': `v1,bm9wZQ== ${VECTOR.signature}` });
    await expect(
      verifyWebhook(rotated, new TextEncoder().encode(VECTOR.body), VECTOR.secret, at),
    ).resolves.toEqual({ test: 2432232314 });
  });

  it('refuses a changed body or id, another secret, a stale timestamp, missing headers and a bad secret', async () => {
    const refused = (p: Promise<unknown>, message: RegExp) =>
      expect(p).rejects.toSatisfy((e) => e instanceof WebhookVerificationError && message.test(e.message));
    await refused(verifyWebhook(headers, '{"test": 2432232315}', VECTOR.secret, at), /no webhook-signature/);
    await refused(
      verifyWebhook({ ...headers, 'webhook-id': 'msg_other' }, VECTOR.body, VECTOR.secret, at),
      /no webhook-signature/,
    );
    await refused(
      verifyWebhook(headers, VECTOR.body, 'whsec_' + btoa('x'.repeat(32)), at),
      /no webhook-signature/,
    );
    await refused(
      verifyWebhook(headers, VECTOR.body, VECTOR.secret, { now: (VECTOR.timestamp + 301) * 1000 }),
      /more than 300 s/,
    );
    await refused(verifyWebhook({ 'webhook-id': VECTOR.id }, VECTOR.body, VECTOR.secret, at), /missing/);
    await refused(verifyWebhook(headers, VECTOR.body, 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', at), /whsec_/);
    await refused(
      verifyWebhook(
        { ...headers, 'webhook-signature': 'v2,' + VECTOR.signature.slice(3) },
        VECTOR.body,
        VECTOR.secret,
        at,
      ),
      /no webhook-signature/,
    );
  });
});
