import { ImageGenError } from './errors.js';

/** A delivery that did not verify: a bad or missing signature, a stale timestamp, a body that is not JSON. */
export class WebhookVerificationError extends ImageGenError {
  override readonly name = 'WebhookVerificationError';
  constructor(message: string) {
    super('webhook_verification_failed', message);
  }
}

/** Request headers as Node (`req.headers`), Express or the Fetch API (`Headers`) hand them over. */
export type WebhookHeaders =
  { get(name: string): string | null } | Record<string, string | readonly string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300, as the reference libraries). */
  toleranceSeconds?: number;
  /** The current time in Unix ms (default `Date.now()`). */
  now?: number;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | readonly string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : value?.[0];
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Verifies a webhook delivery per Standard Webhooks v1: one of the space-separated `v1,<base64>` entries
 * of `webhook-signature` must be the HMAC-SHA256, keyed with the base64 part of the `whsec_…` secret, of
 * `${webhook-id}.${webhook-timestamp}.${body}`, and the timestamp must be within the tolerance (replays).
 * Resolves to the parsed body (`{ type, timestamp, data: <the job> }`); rejects with
 * `WebhookVerificationError`. Uses WebCrypto (`crypto.subtle`, Node ≥ 20 and browsers), whose HMAC verify
 * compares in constant time. `body` must be the raw bytes received, not re-serialized JSON.
 */
export async function verifyWebhook(
  headers: WebhookHeaders,
  body: string | Uint8Array | ArrayBuffer,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<unknown> {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !ts || !signatures) {
    throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  }
  if (!/^\d{1,12}$/.test(ts)) throw new WebhookVerificationError('webhook-timestamp is not a Unix time');
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - Number(ts)) > tolerance) {
    throw new WebhookVerificationError(`webhook-timestamp is more than ${tolerance} s from now`);
  }
  const keyBytes = secret.startsWith('whsec_') ? fromBase64(secret.slice('whsec_'.length)) : undefined;
  if (!keyBytes || keyBytes.length < 24 || keyBytes.length > 64) {
    throw new WebhookVerificationError('the secret must be "whsec_" followed by 24 to 64 bytes in base64');
  }
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'verify',
  ]);
  const signed = new TextEncoder().encode(`${id}.${ts}.${text}`);
  for (const entry of signatures.split(' ')) {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = fromBase64(value);
    if (given && (await crypto.subtle.verify('HMAC', key, given, signed))) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new WebhookVerificationError('the body is not JSON');
      }
    }
  }
  throw new WebhookVerificationError('no webhook-signature matches this secret');
}
