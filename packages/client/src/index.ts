/**
 * `@imagegen/client` for browsers and any runtime with `fetch` and WebCrypto. In Node the package's
 * `node` export adds downloading to a file; everything else is the same.
 */
export {
  ImageGen,
  type EventsOptions,
  type GenerateImageOptions,
  type ImageGenOptions,
  type ImageSource,
  type RequestOptions,
  type SubmitOptions,
  type WaitOptions,
} from './client.js';
export {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  ContentModeratedError,
  ContentPolicyError,
  errorFromJob,
  GenerationFailedError,
  ImageGenError,
  InternalServerError,
  InvalidRequestError,
  JobCanceledError,
  JobExpiredError,
  NotFoundError,
  RateLimitError,
  ServiceUnavailableError,
  WaitTimeoutError,
  type ImageGenErrorOptions,
} from './errors.js';
export { JobList } from './list.js';
export type { RetryInfo, RetryPolicy } from './transport.js';
export * from './types.js';
export { VERSION } from './version.js';
export {
  verifyWebhook,
  WebhookVerificationError,
  type VerifyWebhookOptions,
  type WebhookHeaders,
} from './webhooks.js';
