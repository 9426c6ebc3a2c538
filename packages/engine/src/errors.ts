import { AppError } from '@imagegen/contracts';

/**
 * Stable error codes raised by the engine. The worker maps them to job outcomes: `retryable` errors are
 * rethrown so the queue retries them, the others fail the job at once. A lost engine thread is not one of
 * these: it surfaces as `EngineLostError` from `@imagegen/contracts`.
 */
export type EngineErrorCode =
  | 'model_not_found'
  | 'model_invalid'
  | 'model_incompatible'
  | 'provider_unavailable'
  | 'invalid_argument'
  | 'canceled'
  | 'bad_model_output'
  | 'runtime_failure';

/** The error type the engine throws for a bad model or request; `code` is stable, `message` says what to change. */
export class EngineError extends AppError {
  override name = 'EngineError';
  declare readonly code: EngineErrorCode;
  /** Model-directory-relative file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: EngineErrorCode,
    message: string,
    options: { retryable?: boolean; file?: string; cause?: unknown } = {},
  ) {
    super(code, message, {
      retryable: options.retryable ?? false,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.file = options.file;
  }

  /** Plain form used to send the error across the worker-thread boundary. */
  toJSON(): SerializedEngineError {
    return { code: this.code, message: this.message, retryable: this.retryable, file: this.file };
  }

  static fromJSON(e: SerializedEngineError): EngineError {
    return new EngineError(e.code, e.message, {
      retryable: e.retryable,
      ...(e.file === undefined ? {} : { file: e.file }),
    });
  }
}

export interface SerializedEngineError {
  code: EngineErrorCode;
  message: string;
  retryable: boolean;
  file: string | undefined;
}

/**
 * The engine stopped because the caller's AbortSignal fired; `cause` is the signal's reason, so a caller that
 * aborts for its own reasons (a client cancel, a job timeout) can read which one from the error.
 */
export function canceledError(reason?: unknown): EngineError {
  return new EngineError(
    'canceled',
    'generation was canceled',
    reason === undefined ? {} : { cause: reason },
  );
}
