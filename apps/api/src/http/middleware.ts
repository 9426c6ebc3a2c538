import { isUtf8 } from 'node:buffer';

import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import type { ApiKeyRepository, RateLimiter } from '@imagegen/access';
import type { Metrics } from '@imagegen/observability';

import { invalidRequest, rateLimited, unauthorized, unsupportedMediaType } from '../services/errors.js';
import { bearerToken, chargeAuthFailure, checkAuthBudget, type AuthFailureBudget } from './auth-failures.js';
import { newRequestId, SECURITY_HEADERS } from './errors.js';

/** What the middlewares learn about a request. */
export interface RequestContext {
  requestId: string;
  /** The authenticated API key's id (after `authenticate`). */
  keyId?: string;
}

/** The request's context (set by `requestContext`, completed by `authenticate`). */
export function ctx(res: Response): RequestContext {
  return res.locals as RequestContext;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Request id (the client's X-Request-Id when well-formed), security headers, the duration metric. */
export function requestContext(options: {
  metrics: Pick<Metrics, 'httpDuration'>;
  shutdown?: AbortSignal | undefined;
}) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : newRequestId();
    ctx(res).requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (options.shutdown?.aborted) res.setHeader('Connection', 'close');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      options.metrics.httpDuration.observe(
        { method: req.method, route, status: String(res.statusCode) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  };
}

/**
 * `Authorization: Bearer <key>` (any case of the scheme) or `x-key: <key>` → the key id, or 401; a
 * failure counts against the client address's budget, and once that is spent, 429 before any check.
 */
export function authenticate(options: {
  apiKeys: Pick<ApiKeyRepository, 'verify'>;
  authFailures: AuthFailureBudget;
}): RequestHandler {
  return async (req, res, next) => {
    await checkAuthBudget(options.authFailures, req);
    const secret = bearerToken(req.header('authorization')) ?? req.header('x-key');
    const keyId = secret ? await options.apiKeys.verify(secret) : null;
    if (!keyId) {
      await chargeAuthFailure(options.authFailures, req);
      res.setHeader('WWW-Authenticate', 'Bearer realm="imagegen"');
      throw unauthorized('send a valid API key as "Authorization: Bearer <key>" or "x-key: <key>"');
    }
    ctx(res).keyId = keyId;
    next();
  };
}

export interface RateLimitOptions {
  limiter: RateLimiter;
  bucket: string;
  perMinute: number;
}

/**
 * Takes `cost` tokens from the key's bucket (the OpenAI adapter's `n` images cost n), sets the rate-limit
 * headers and throws 429 `rate_limited` when the bucket cannot pay.
 */
export async function takeTokens(options: RateLimitOptions, res: Response, cost = 1): Promise<void> {
  const t = await options.limiter.take(
    `${ctx(res).keyId ?? 'anonymous'}:${options.bucket}`,
    options.perMinute,
    cost,
  );
  res.setHeader('RateLimit-Limit', String(options.perMinute));
  res.setHeader('RateLimit-Remaining', String(t.remaining));
  res.setHeader('RateLimit-Reset', String(Math.ceil(t.retryAfterMs / 1000)));
  if (!t.allowed) {
    throw rateLimited(
      `this API key is limited to ${options.perMinute} requests per minute here; retry after the Retry-After delay`,
      Math.max(1, Math.ceil(t.retryAfterMs / 1000)),
    );
  }
}

/**
 * One token bucket per key and bucket name. Headers per draft-ietf-httpapi-ratelimit-headers: the limit,
 * what remains, and seconds until a token is back.
 */
export function rateLimit(options: RateLimitOptions): RequestHandler {
  return async (_req, res, next) => {
    await takeTokens(options, res);
    next();
  };
}

/** A JSON body: Content-Type application/json, at most `limitBytes`, strict, valid UTF-8. */
export function jsonBody(options: { limitBytes: number }): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!req.is('application/json')) {
      throw unsupportedMediaType('send the body as JSON with "Content-Type: application/json"');
    }
    next();
  };
  const bodyParser: RequestHandler = express.json({
    limit: options.limitBytes,
    strict: true,
    type: () => true,
    // The decoder would quietly turn malformed UTF-8 into U+FFFD; refuse it instead.
    verify: (_req, _res, buf, encoding) => {
      if (encoding === 'utf-8' && !isUtf8(buf)) {
        throw invalidRequest(NOT_UTF8);
      }
    },
  });
  const parse: RequestHandler = (req, res, next) =>
    isPlainJson(req, options.limitBytes) ? readPlainJson(req, next) : bodyParser(req, res, next);
  return [requireJson, parse];
}

const NOT_UTF8 = 'the body is not valid UTF-8: send JSON encoded as UTF-8';
const DIGITS = /^\d{1,15}$/;

/**
 * The common body: a Content-Length within the limit, no Content-Encoding or Transfer-Encoding, and a
 * bare `application/json` type (UTF-8 by default). Anything else goes through express.json.
 */
function isPlainJson(req: Request, limitBytes: number): boolean {
  const h = req.headers;
  const length = h['content-length'];
  return (
    length !== undefined &&
    DIGITS.test(length) &&
    Number(length) <= limitBytes &&
    h['content-encoding'] === undefined &&
    h['transfer-encoding'] === undefined &&
    h['content-type']?.includes(';') === false &&
    !req.readableEnded
  );
}

/** An error as body-parser marks it, so the error handler answers both the same way. */
const bodyError = (status: number, type: string, message: string) =>
  Object.assign(new Error(message), { status, type, expose: true });

/**
 * Reads and parses a plain JSON body as express.json does with our options (strict: an object or array,
 * an empty body is `{}`; valid UTF-8, a leading byte-order mark dropped; the same error types), without
 * its streams, decoders and per-request option handling: about 0.06 ms of CPU less per request on the
 * build machine (bench:service's floors).
 */
function readPlainJson(req: Request, next: NextFunction): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
  };
  const done = (err?: Error) => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    next(err);
  };
  const onError = (err: Error) => done(bodyError(400, 'request.aborted', err.message));
  const onEnd = () => {
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    if (size !== Number(req.headers['content-length'])) {
      done(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
      return;
    }
    if (!isUtf8(buf)) {
      done(invalidRequest(NOT_UTF8));
      return;
    }
    let text = buf.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const first = /[^ \t\n\r]/.exec(text)?.[0];
    if (text.length > 0 && first !== '{' && first !== '[') {
      done(bodyError(400, 'entity.parse.failed', 'strict JSON: the body must be an object or an array'));
      return;
    }
    try {
      req.body = text.length === 0 ? {} : (JSON.parse(text) as unknown);
    } catch (e) {
      done(bodyError(400, 'entity.parse.failed', (e as Error).message));
      return;
    }
    done();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}
