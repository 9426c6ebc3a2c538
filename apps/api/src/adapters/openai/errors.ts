import type { NextFunction, Request, Response } from 'express';

import type { AppError } from '@imagegen/contracts';
import type { Logger } from '@imagegen/observability';

import { clientError, newRequestId } from '../../http/errors.js';

/** OpenAI's error `type` for each of our statuses and codes. */
function errorType(e: AppError): string {
  const status = e.httpStatus ?? 500;
  if (e.code === 'content_policy_violation') return 'image_generation_user_error';
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** OpenAI's `code` where it has its own name for ours. */
const CODES: Readonly<Record<string, string>> = {
  unauthorized: 'invalid_api_key',
  rate_limited: 'rate_limit_exceeded',
  invalid_request: 'invalid_value',
};

/**
 * Whether the OpenAI SDK should retry (it obeys `x-should-retry` before its own rules): only rate limits,
 * a full queue, an unavailable dependency and our own internal errors may pass on a retry; a bad request,
 * a refused prompt, a missing key or a generation that outlived the wait never will.
 */
const shouldRetry = (e: AppError & { httpStatus: number }) =>
  e.httpStatus === 429 || e.httpStatus === 503 || e.code === 'internal_error';

/** Sends an error in OpenAI's shape `{error: {message, type, param, code}}` with the SDK's retry headers. */
export function sendOpenAIError(res: Response, e: AppError & { httpStatus: number }): void {
  if (e.retryAfterS !== undefined) res.setHeader('Retry-After', String(e.retryAfterS));
  res.setHeader('x-should-retry', shouldRetry(e) ? 'true' : 'false');
  res.status(e.httpStatus).json(openAIErrorBody(e));
}

/** OpenAI's error body `{error: {message, type, param, code}}` (also the data of a stream's `error` event). */
export function openAIErrorBody(e: AppError) {
  return {
    error: {
      message: e.message,
      type: errorType(e),
      param: e.param ?? null,
      code: CODES[e.code] ?? e.code,
    },
  };
}

/** The error middleware of `/openai/v1`: every error in OpenAI's shape. */
export function openAIErrorHandler(options: { logger: Logger; bodyLimitBytes: number }) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const requestId = String(res.getHeader('X-Request-Id') ?? newRequestId());
    const e = clientError(err, options, requestId);
    if (res.headersSent) {
      res.end();
      return;
    }
    sendOpenAIError(res, e);
  };
}
