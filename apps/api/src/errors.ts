import type { ErrorCode } from '@imagegen/contracts';

/** The one HTTP error type: a status, a stable code, a message that says what to change. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly param?: string,
    readonly headers: Record<string, string> = {},
    /** Extra machine-readable fields of the error object (e.g. the policy `category`). */
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = () =>
  new ApiError(404, 'not_found', 'no generation with this id exists for this API key');
