/**
 * Stable error codes raised by the engine. The worker maps them to job outcomes: `retryable` errors are
 * rethrown so the queue retries them, the others fail the job at once.
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

/** The one error type the engine throws; `code` is stable, `message` says what to change. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly code: EngineErrorCode;
  readonly retryable: boolean;
  /** Model-directory-relative file the error is about, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: EngineErrorCode,
    message: string,
    options: { retryable?: boolean; file?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
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

/** Thrown between denoising steps when the caller's AbortSignal fired. */
export function canceledError(): EngineError {
  return new EngineError('canceled', 'generation was canceled');
}
