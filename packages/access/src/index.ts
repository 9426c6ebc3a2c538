/** @imagegen/access — who may call the API and how often: API keys, webhook secrets, rate limits. */
export {
  CONCURRENCY_POLICIES,
  MAX_KEY_WEIGHT,
  RedisApiKeyRepository,
  secretDigest,
  secretKeyId,
  type ApiKeyInfo,
  type ApiKeyRepository,
  type ConcurrencyPolicy,
  type KeyScheduling,
} from './api-key-repository.js';
export { RedisRateLimiter, type RateLimiter, type TokenDecision } from './rate-limiter.js';
