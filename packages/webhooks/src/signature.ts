import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks v1 (symmetric): HMAC-SHA256 over `${id}.${timestamp}.${body}`, keyed with the
 * base64-decoded part of a `whsec_…` secret, sent as `v1,<base64>`; several signatures are separated by
 * spaces so a secret can rotate without downtime.
 */
export const SECRET_PREFIX = 'whsec_';
const SECRET = /^whsec_([A-Za-z0-9+/]{32,88}={0,2})$/;

/** A fresh secret: 32 random bytes (the spec allows 24–64), base64 with the `whsec_` prefix. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The HMAC key bytes of a `whsec_` secret; throws when the secret is malformed. */
export function secretKey(secret: string): Buffer {
  const m = SECRET.exec(secret);
  const key = m ? Buffer.from(m[1]!, 'base64') : Buffer.alloc(0);
  if (key.length < 24 || key.length > 64) {
    throw new Error('a webhook secret must be "whsec_" followed by 24 to 64 bytes in base64');
  }
  return key;
}

export function isWebhookSecret(secret: string): boolean {
  try {
    secretKey(secret);
    return true;
  } catch {
    return false;
  }
}

/** One `v1,<base64>` signature of the exact bytes sent. */
export function signPayload(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers, signed with every given secret (current first). */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  if (secrets.length === 0) throw new Error('at least one webhook secret is needed to sign');
  if (id.includes('.')) throw new Error('a webhook id must not contain "."');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signPayload(s, id, timestamp, body)).join(' '),
  };
}

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

type HeaderSource =
  { get(name: string): string | null } | Record<string, string | readonly string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | readonly string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? (value as readonly string[])[0] : (value as string | undefined);
}

export interface VerifyOptions {
  /** How far the timestamp may be from now, in seconds (default 300, as the reference libraries). */
  toleranceSeconds?: number;
  /** Unix ms; defaults to Date.now(). */
  now?: number;
}

/**
 * Checks a delivery as a receiver should: the signature over the raw body (one of the listed v1
 * signatures must match, compared in constant time) and a timestamp within the tolerance. Returns the
 * parsed body; throws WebhookVerificationError otherwise. `body` must be the raw bytes received.
 */
export function verifyWebhook(
  headers: HeaderSource,
  body: string | Buffer,
  secret: string,
  options: VerifyOptions = {},
): unknown {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs) {
    throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  }
  if (!/^\d{1,12}$/.test(ts)) throw new WebhookVerificationError('webhook-timestamp is not a Unix time');
  const timestamp = Number(ts);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - timestamp) > tolerance) {
    throw new WebhookVerificationError(`webhook-timestamp is more than ${tolerance} s from now`);
  }
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const expected = Buffer.from(signPayload(secret, id, timestamp, text).slice(3), 'base64');
  const ok = sigs.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new WebhookVerificationError('no webhook-signature matches this secret');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new WebhookVerificationError('the body is not JSON');
  }
}
