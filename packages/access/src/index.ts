/** @imagegen/access — who may call the API and how often: API keys, webhook secrets, rate limits. */
export { RedisApiKeyRepository, type ApiKeyInfo, type ApiKeyRepository } from './api-key-repository.js';
export { RedisRateLimiter, type RateLimiter, type TokenDecision } from './rate-limiter.js';
