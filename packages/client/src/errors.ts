import type { ErrorBody, Job } from './types.js';

export interface ImageGenErrorOptions {
  /** HTTP status of the answer; undefined for network failures and for jobs that ended badly. */
  status?: number | undefined;
  /** The request field or header the error is about (`invalid_request`). */
  param?: string | undefined;
  /** The server's request id (`X-Request-Id`), to quote in a report. */
  requestId?: string | undefined;
  /** Every validation problem, each with its field (`invalid_request`). */
  details?: { param: string; message: string }[] | undefined;
  /** Policy category of a refusal (violence, adult, hate, illegal, harmful). */
  category?: string | undefined;
  /** How long the server asked to wait before retrying (`Retry-After`), in ms. */
  retryAfterMs?: number | undefined;
  /** The job, when the error is a job that ended in another status than `succeeded`. */
  job?: Job | undefined;
  cause?: unknown;
}

/**
 * Every error this client throws: a stable `code` (the API's `error.code`, or the client's own
 * `connection_error`, `timeout`, `image_expired`, `invalid_response`) and what the server said about it.
 */
export class ImageGenError extends Error {
  override readonly name: string = 'ImageGenError';
  readonly code: string;
  readonly status: number | undefined;
  readonly param: string | undefined;
  readonly requestId: string | undefined;
  readonly details: { param: string; message: string }[] | undefined;
  readonly category: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly job: Job | undefined;

  constructor(code: string, message: string, options: ImageGenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.param = options.param;
    this.requestId = options.requestId;
    this.details = options.details;
    this.category = options.category;
    this.retryAfterMs = options.retryAfterMs;
    this.job = options.job;
  }
}

/** 400 `invalid_request` (see `param` and `details`), 413 `payload_too_large`, 415 `unsupported_media_type`. */
export class InvalidRequestError extends ImageGenError {
  override readonly name = 'InvalidRequestError';
}
/** 401 `unauthorized`: no key, an unknown key or a revoked one. */
export class AuthenticationError extends ImageGenError {
  override readonly name = 'AuthenticationError';
}
/** 404 `not_found`: no such job for this key (or its record outlived its 24 h retention). */
export class NotFoundError extends ImageGenError {
  override readonly name = 'NotFoundError';
}
/** 409 `conflict` (e.g. canceling a job that already ended) or `idempotency_conflict`. */
export class ConflictError extends ImageGenError {
  override readonly name = 'ConflictError';
}
/**
 * `content_policy_violation`: the prompt was refused before queueing (400), or a job's upsampled prompt
 * was refused (the job ended `moderated` at stage `input`). `category` says which policy.
 */
export class ContentPolicyError extends ImageGenError {
  override readonly name = 'ContentPolicyError';
}
/** `content_moderated`: the generated image failed the safety check; the job ended `moderated`. */
export class ContentModeratedError extends ImageGenError {
  override readonly name = 'ContentModeratedError';
}
/** 429 `rate_limited` or `concurrency_limit_exceeded`, after the client's retries ran out. */
export class RateLimitError extends ImageGenError {
  override readonly name = 'RateLimitError';
}
/** 503 `queue_full` or `service_unavailable` (and 502/504), after the client's retries ran out. */
export class ServiceUnavailableError extends ImageGenError {
  override readonly name = 'ServiceUnavailableError';
}
/** 500 `internal_error` or any other answer this client does not know; quote `requestId`. */
export class InternalServerError extends ImageGenError {
  override readonly name = 'InternalServerError';
}
/** The service could not be reached (or did not answer in time), after the client's retries ran out. */
export class ConnectionError extends ImageGenError {
  override readonly name = 'ConnectionError';
}
/** A job ended `failed` (`code` is the job's `error.code`, e.g. `timeout`, `worker_crashed`). */
export class GenerationFailedError extends ImageGenError {
  override readonly name = 'GenerationFailedError';
}
/** A job ended `canceled`. */
export class JobCanceledError extends ImageGenError {
  override readonly name = 'JobCanceledError';
}
/** A job ended `expired`: it waited in the queue past the service's deadline. */
export class JobExpiredError extends ImageGenError {
  override readonly name = 'JobExpiredError';
}
/** `wait` or `generateImage` gave up after its `timeoutMs`; the job may still finish (see `job`). */
export class WaitTimeoutError extends ImageGenError {
  override readonly name = 'WaitTimeoutError';
}

type ErrorClass = new (code: string, message: string, options?: ImageGenErrorOptions) => ImageGenError;

const BY_CODE: Record<string, ErrorClass> = {
  invalid_request: InvalidRequestError,
  payload_too_large: InvalidRequestError,
  unsupported_media_type: InvalidRequestError,
  method_not_allowed: InvalidRequestError,
  unauthorized: AuthenticationError,
  forbidden: AuthenticationError,
  not_found: NotFoundError,
  conflict: ConflictError,
  idempotency_conflict: ConflictError,
  content_policy_violation: ContentPolicyError,
  content_moderated: ContentModeratedError,
  rate_limited: RateLimitError,
  concurrency_limit_exceeded: RateLimitError,
  queue_full: ServiceUnavailableError,
  service_unavailable: ServiceUnavailableError,
  internal_error: InternalServerError,
};

function byStatus(status: number): ErrorClass {
  if (status === 401) return AuthenticationError;
  if (status === 404) return NotFoundError;
  if (status === 409) return ConflictError;
  if (status === 429) return RateLimitError;
  if (status === 502 || status === 503 || status === 504) return ServiceUnavailableError;
  if (status >= 400 && status < 500) return InvalidRequestError;
  return InternalServerError;
}

/** `Retry-After` (delta-seconds or an HTTP date, RFC 9110 §10.2.3) in ms, or undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The typed error for a non-2xx answer, from its error envelope (or its status when it has none). */
export function errorFromResponse(status: number, headers: Headers, text: string): ImageGenError {
  let body: Partial<ErrorBody> | undefined;
  try {
    body = JSON.parse(text) as Partial<ErrorBody>;
  } catch {
    body = undefined;
  }
  const e = body?.error;
  const code = typeof e?.code === 'string' ? e.code : `http_${status}`;
  const message =
    typeof e?.message === 'string'
      ? e.message
      : `the service answered ${status} ${text.slice(0, 200)}`.trim();
  const Class = BY_CODE[code] ?? byStatus(status);
  return new Class(code, message, {
    status,
    param: e?.param,
    requestId: body?.request_id ?? headers.get('x-request-id') ?? undefined,
    details: e?.details,
    category: e?.category,
    retryAfterMs: parseRetryAfter(headers.get('retry-after')),
  });
}

/** The typed error for a job that ended in another status than `succeeded`; undefined if it succeeded. */
export function errorFromJob(job: Job): ImageGenError | undefined {
  const options: ImageGenErrorOptions = {
    requestId: job.request_id,
    job,
    category: job.moderation?.category ?? undefined,
  };
  const message = job.error?.message;
  switch (job.status) {
    case 'succeeded':
    case 'queued':
    case 'processing':
      return undefined;
    case 'moderated':
      return job.error?.code === 'content_policy_violation' || job.moderation?.stage === 'input'
        ? new ContentPolicyError('content_policy_violation', message ?? 'the prompt was refused', options)
        : new ContentModeratedError(
            'content_moderated',
            message ?? 'the image failed the safety check',
            options,
          );
    case 'failed':
      return new GenerationFailedError(
        job.error?.code ?? 'generation_failed',
        message ?? 'the generation failed',
        options,
      );
    case 'canceled':
      return new JobCanceledError('canceled', message ?? `job ${job.id} was canceled`, options);
    case 'expired':
      return new JobExpiredError(
        'expired',
        message ?? `job ${job.id} waited in the queue past the service's deadline`,
        options,
      );
  }
}
