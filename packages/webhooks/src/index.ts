/** @imagegen/webhooks — Standard Webhooks v1 signing and verification, SSRF checks, delivery. */
export {
  generateWebhookSecret,
  isWebhookSecret,
  secretKey,
  signedHeaders,
  signPayload,
  verifyWebhook,
  WebhookVerificationError,
  SECRET_PREFIX,
  type VerifyOptions,
} from './signature.js';
export {
  addressRefusal,
  EMPTY_ALLOWLIST,
  guardedLookup,
  HOST_NOT_PUBLIC,
  parseAllowlist,
  resolveAll,
  urlPort,
  urlRefusal,
  webhookUrlRefusal,
  type Allowlist,
  type LookupFn,
} from './ssrf.js';
export { bflSignature } from './bfl-signature.js';
export { deliver, type DeliveryErrorClass, type DeliveryRequest, type DeliveryResult } from './deliver.js';
export { DEFAULT_RETRY_SCHEDULE_MS, parseSchedule, retryDelay } from './schedule.js';
