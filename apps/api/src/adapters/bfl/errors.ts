import type { NextFunction, Request, Response } from 'express';

import type { Logger } from '@imagegen/observability';

import { clientError, newRequestId } from '../../http/errors.js';
import { BflValidationError } from './request.js';

/**
 * The error middleware of `/bfl/v1`: errors as BFL's API (FastAPI) answers them. A request that fails
 * validation is 422 `{detail: [{loc, msg, type}]}`; anything else is its status with `{detail: message}`
 * (and `Retry-After` on 429 and 503).
 */
export function bflErrorHandler(options: { logger: Logger; bodyLimitBytes: number }) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof BflValidationError) {
      res.status(422).json({ detail: err.issues });
      return;
    }
    const requestId = String(res.getHeader('X-Request-Id') ?? newRequestId());
    const e = clientError(err, options, requestId);
    if (e.retryAfterS !== undefined) res.setHeader('Retry-After', String(e.retryAfterS));
    if (e.code === 'invalid_request' && e.httpStatus === 400) {
      // Our own checks past the schema (a refused webhook URL, an over-long prompt after normalization).
      const problems = e.details ?? [{ param: e.param ?? '', message: e.message }];
      res.status(422).json({
        detail: problems.map((p) => ({
          loc: p.param ? ['body', p.param] : ['body'],
          msg: p.message,
          type: 'value_error',
        })),
      });
      return;
    }
    res.status(e.httpStatus).json({ detail: e.message });
  };
}
