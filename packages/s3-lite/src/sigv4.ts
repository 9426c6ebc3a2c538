import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 verification for S3 requests, header-signed and presigned (query) forms.
 * Reference: AWS "Signature Version 4 signing process" and "Authenticating Requests: Using Query
 * Parameters" (S3 API reference). S3 does not double-encode the path and signs presigned URLs with
 * the payload hash `UNSIGNED-PAYLOAD`.
 */

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Signs for an access key that does not exist, so that refusing it takes the same steps. */
const UNKNOWN_KEY_SECRET = randomBytes(30).toString('base64');

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 unreserved characters stay; everything else is %XX (uppercase), as SigV4 requires. */
export function uriEncode(value: string, keepSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export interface ParsedRequest {
  method: string;
  /** Decoded path, e.g. `/bucket/key with space`. */
  path: string;
  /** Decoded query parameters in arrival order. */
  query: [string, string][];
  /** Lowercased header names. */
  headers: Record<string, string | string[] | undefined>;
}

export type VerifyResult =
  | { ok: true; accessKey: string }
  | {
      ok: false;
      code: 'AccessDenied' | 'SignatureDoesNotMatch' | 'AuthorizationHeaderMalformed';
      message: string;
    };

function canonicalQuery(query: [string, string][], skip: string | null): string {
  return query
    .filter(([k]) => k !== skip)
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerValue(h: string | string[] | undefined): string {
  const v = Array.isArray(h) ? h.join(',') : (h ?? '');
  return v.trim().replace(/\s+/g, ' ');
}

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Parses `YYYYMMDD'T'HHMMSS'Z'`. */
export function parseAmzDate(value: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return null;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/**
 * Verifies a request signed for `region`/`s3` with the credentials in `secrets` (access key → secret).
 * `payloadHash` is the x-amz-content-sha256 the caller has checked against the body (or UNSIGNED-PAYLOAD).
 */
export function verifyRequest(
  req: ParsedRequest,
  secrets: ReadonlyMap<string, string>,
  now: number,
): VerifyResult {
  const q = new Map(req.query);
  const presigned = q.has('X-Amz-Signature');
  let credential: string;
  let signedHeaders: string;
  let signature: string;
  let amzDate: string;
  let payloadHash: string;
  if (presigned) {
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
      return {
        ok: false,
        code: 'AuthorizationHeaderMalformed',
        message: 'only AWS4-HMAC-SHA256 is supported',
      };
    }
    credential = q.get('X-Amz-Credential') ?? '';
    signedHeaders = q.get('X-Amz-SignedHeaders') ?? '';
    signature = q.get('X-Amz-Signature') ?? '';
    amzDate = q.get('X-Amz-Date') ?? '';
    payloadHash = 'UNSIGNED-PAYLOAD';
    const expires = Number(q.get('X-Amz-Expires'));
    const signedAt = parseAmzDate(amzDate);
    if (!Number.isInteger(expires) || expires < 1 || expires > 604800 || signedAt === null) {
      return {
        ok: false,
        code: 'AuthorizationHeaderMalformed',
        message: 'X-Amz-Expires must be 1..604800 seconds',
      };
    }
    if (now > signedAt + expires * 1000)
      return { ok: false, code: 'AccessDenied', message: 'Request has expired' };
    if (signedAt > now + 15 * 60_000)
      return { ok: false, code: 'AccessDenied', message: 'Request is not yet valid' };
  } else {
    const auth = headerValue(req.headers['authorization']);
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
    if (!m)
      return { ok: false, code: 'AccessDenied', message: 'the request is not signed with AWS Signature V4' };
    credential = m[1]!;
    signedHeaders = m[2]!;
    signature = m[3]!;
    amzDate = headerValue(req.headers['x-amz-date']);
    payloadHash = headerValue(req.headers['x-amz-content-sha256']);
    const at = parseAmzDate(amzDate);
    if (at === null || Math.abs(now - at) > 15 * 60_000) {
      return {
        ok: false,
        code: 'AccessDenied',
        message: 'x-amz-date is missing or more than 15 minutes off',
      };
    }
    if (!payloadHash) return { ok: false, code: 'AccessDenied', message: 'x-amz-content-sha256 is required' };
  }
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || parts[3] !== 's3') {
    return { ok: false, code: 'AuthorizationHeaderMalformed', message: 'malformed credential scope' };
  }
  const [accessKey, date, region] = parts as [string, string, string, string, string];
  // An unknown access key is answered exactly like a wrong secret, after the same work: the answer must
  // not tell whether a key exists (issue 17, finding 2).
  const known = secrets.get(accessKey);
  const secret = known ?? UNKNOWN_KEY_SECRET;
  const names = signedHeaders.split(';');
  if (!names.includes('host'))
    return { ok: false, code: 'AccessDenied', message: 'the host header must be signed' };
  const canonicalHeaders = names.map((n) => `${n}:${headerValue(req.headers[n])}\n`).join('');
  const canonicalRequest = [
    req.method,
    uriEncode(req.path, true),
    canonicalQuery(req.query, presigned ? 'X-Amz-Signature' : null),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const expected = createHmac('sha256', signingKey(secret, date, region, 's3'))
    .update(stringToSign)
    .digest('hex');
  if (!safeEqualHex(expected, signature) || known === undefined) {
    return { ok: false, code: 'SignatureDoesNotMatch', message: 'the request signature does not match' };
  }
  return { ok: true, accessKey };
}
