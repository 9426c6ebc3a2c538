/** @imagegen/jobs — Redis connections, the generation queue and the job records. */
export { ApiKeyStore, type ApiKeyInfo } from './api-keys.js';
export {
  GENERATION_JOB_OPTIONS,
  GENERATION_QUEUE,
  generationQueue,
  type GenerationPayload,
} from './generation-queue.js';
export {
  EXPIRED_ERROR,
  JobStore,
  type FinishOutcome,
  type JobEventEntry,
  type JobFailure,
  type JobImage,
  type JobModeration,
  type JobRecord,
  type JobWebhook,
  type NewJob,
  type PromptInsights,
  type WebhookDeliveryState,
  type WebhookEventKind,
  type SubmitOutcome,
} from './job-store.js';
export { Keys } from './keys.js';
export {
  connectRedis,
  redisOptions,
  redisUrlOptions,
  waitReady,
  type Redis,
  type RedisRole,
} from './redis.js';
export { jobView, type Presigner } from './job-view.js';
export { WEBHOOK_QUEUE, webhookMessageId, type WebhookDelivery } from './webhook-queue.js';
