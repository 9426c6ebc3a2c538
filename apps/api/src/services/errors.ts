import { AppError } from '@imagegen/contracts';

/**
 * The API's client errors: each an AppError with a stable code, an HTTP status and a message that says
 * what to change. Services throw these; one error middleware turns any AppError into the response.
 */
export const invalidRequest = (
  message: string,
  param?: string,
  details?: { param: string; message: string }[],
) =>
  new AppError('invalid_request', message, {
    httpStatus: 400,
    ...(param === undefined ? {} : { param }),
    ...(details === undefined ? {} : { details }),
  });

export const notFound = (message = 'no generation with this id exists for this API key') =>
  new AppError('not_found', message, { httpStatus: 404 });

export const conflict = (message: string) => new AppError('conflict', message, { httpStatus: 409 });

export const idempotencyConflict = (message: string) =>
  new AppError('idempotency_conflict', message, { httpStatus: 409, param: 'Idempotency-Key' });

export const unauthorized = (message: string) => new AppError('unauthorized', message, { httpStatus: 401 });

/** Authenticated, but this request may not do that (e.g. a cross-site request to the admin dashboard). */
export const forbidden = (message: string) => new AppError('forbidden', message, { httpStatus: 403 });

export const rateLimited = (message: string, retryAfterS: number) =>
  new AppError('rate_limited', message, { httpStatus: 429, retryable: true, retryAfterS });

export const concurrencyLimited = (message: string) =>
  new AppError('concurrency_limit_exceeded', message, { httpStatus: 429, retryable: true, retryAfterS: 5 });

export const queueFull = () =>
  new AppError('queue_full', 'the queue is full; retry after the Retry-After delay', {
    httpStatus: 503,
    retryable: true,
    retryAfterS: 30,
  });

export const unsupportedMediaType = (message: string) =>
  new AppError('unsupported_media_type', message, { httpStatus: 415 });

export const payloadTooLarge = (message: string) =>
  new AppError('payload_too_large', message, { httpStatus: 413 });
