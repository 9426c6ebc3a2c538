import { createHmac } from 'node:crypto';

/**
 * BFL's webhook signature (its `X-BFL-Signature` header): `sha256=` and the hex HMAC-SHA256 of the exact
 * body bytes, keyed with the UTF-8 bytes of the `webhook_secret` the request gave.
 */
export function bflSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex')}`;
}
