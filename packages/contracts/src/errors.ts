/**
 * The one error base of the service. Control flow reads `code`, the class (`instanceof`) and the flags
 * below — never `message`, which is for people and may be reworded freely.
 *
 * Two different questions get two different fields:
 * - `retryable`: should the *system* try again (a BullMQ attempt, a webhook retry, a reconnect)?
 * - `resubmittable`: may a *client* send the same request again and expect it to work? This is what a
 *   failed job shows its client as `error.retryable` (the public field's name predates this class).
 */
export interface AppErrorOptions {
  /** The system should try again (another BullMQ attempt, another delivery). Default false. */
  retryable?: boolean;
  /** A client may resubmit the same request and expect it to work. Default: `retryable`. */
  resubmittable?: boolean;
  /** The HTTP status when this error answers a request directly (API only; 500 when absent). */
  httpStatus?: number;
  /** The request field or header the error is about. */
  param?: string;
  /** Seconds a client should wait before trying again (sent as `Retry-After`). */
  retryAfterS?: number;
  /** Extra machine-readable fields of the error object (e.g. the policy `category`). */
  extra?: Record<string, string>;
  /** Every problem found, when more than one (validation). */
  details?: { param: string; message: string }[];
  cause?: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly code: string;
  readonly retryable: boolean;
  readonly resubmittable: boolean;
  readonly httpStatus: number | undefined;
  readonly param: string | undefined;
  readonly retryAfterS: number | undefined;
  readonly extra: Readonly<Record<string, string>>;
  readonly details: readonly { param: string; message: string }[] | undefined;

  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.resubmittable = options.resubmittable ?? this.retryable;
    this.httpStatus = options.httpStatus;
    this.param = options.param;
    this.retryAfterS = options.retryAfterS;
    this.extra = options.extra ?? {};
    this.details = options.details;
  }
}

/** A call (engine, S3, Redis, HTTP) did not finish before its deadline. Retryable by default. */
export class DeadlineExceededError extends AppError {
  override name = 'DeadlineExceededError';
  constructor(what: string, ms: number, options: AppErrorOptions = {}) {
    super('timeout', `${what} did not finish within ${ms} ms`, { retryable: true, ...options });
  }
}

/** A job ran past JOB_TIMEOUT_MS. Final for this job; the client may submit it again. */
export class JobTimeoutError extends AppError {
  override name = 'JobTimeoutError';
  constructor(ms: number) {
    super('timeout', `the job exceeded JOB_TIMEOUT_MS (${ms} ms)`, {
      retryable: false,
      resubmittable: true,
    });
  }
}

/** The client canceled the job. */
export class CanceledError extends AppError {
  override name = 'CanceledError';
  constructor(message = 'canceled by the client') {
    super('canceled', message, { retryable: false, resubmittable: false });
  }
}

/**
 * The engine's thread died (a crash, an out-of-memory exit) or was terminated for missing a deadline:
 * this process cannot generate until it has a new engine; the job goes back to the queue.
 */
export class EngineLostError extends AppError {
  override name = 'EngineLostError';
  constructor(message: string, options: AppErrorOptions = {}) {
    super('engine_lost', message, { retryable: true, ...options });
  }
}

/** A job took its worker (process or engine thread) down on every attempt; it is not tried again. */
export class WorkerCrashedError extends AppError {
  override name = 'WorkerCrashedError';
  constructor(attempts: number) {
    super(
      'worker_crashed',
      `the job stopped its worker on each of ${attempts} attempts and was not tried again; change the request or report it`,
      { retryable: false, resubmittable: false },
    );
  }
}

/** The object store failed or did not answer in time. Retryable. */
export class StorageError extends AppError {
  override name = 'StorageError';
  constructor(message: string, options: AppErrorOptions = {}) {
    super('storage_unavailable', message, { retryable: true, httpStatus: 503, retryAfterS: 5, ...options });
  }
}

/** Redis refused, dropped or did not answer a command in time. Retryable; 503 on the request path. */
export class RedisUnavailableError extends AppError {
  override name = 'RedisUnavailableError';
  constructor(
    message = 'the service is temporarily unavailable; retry shortly',
    options: AppErrorOptions = {},
  ) {
    super('service_unavailable', message, { retryable: true, httpStatus: 503, retryAfterS: 5, ...options });
  }
}

/** A prompt (or revised prompt) was refused by the content policy; `category` says which rule. */
export class ModerationError extends AppError {
  override name = 'ModerationError';
  constructor(
    message: string,
    readonly category: string,
    options: AppErrorOptions = {},
  ) {
    super('content_policy_violation', message, {
      httpStatus: 400,
      param: 'prompt',
      extra: { category },
      ...options,
    });
  }
}
