/**
 * @imagegen/jobs — the Redis data layer: connections, hash-tagged keys, the typed Lua commands, the job
 * repository and events, the generation and webhook queues (the only BullMQ code), the outbox reader and
 * the public job view.
 */
export {
  BFL_STATUSES,
  bflNotFound,
  bflResult,
  bflWebhookBody,
  type BflResult,
  type BflStatus,
} from './bfl-result.js';
export { Commands, COMMANDS, luaSource, type CommandName, type CommandObserver } from './commands.js';
export {
  createConsumer,
  doNotRetry,
  type JobHandlers,
  type ConsumedJob,
  type Consumer,
  type ConsumerOptions,
} from './consumer.js';
export { BullGenerationQueue, type GenerationQueue } from './generation-queue.js';
export { RedisJobEvents, type JobEvents, type JobStreamEntry } from './job-events.js';
export { RedisJobPreviews, type JobPreviews } from './job-previews.js';
export {
  EXPIRED_ERROR,
  KEY_JOBS_INDEX_MAX,
  PRIORITY_LIMIT,
  WORKER_LOST_ERROR,
  type FinishOutcome,
  type GatedSubmit,
  type GatedSubmitOutcome,
  type IdempotencyClaim,
  type KeySchedulingSettings,
  type RateState,
  type ReleasedJob,
  type ResultCacheClaim,
  type SubmitGate,
  type SubmitOptions,
  type JobPage,
  type JobRepository,
  type ListOptions,
  type StartOutcome,
  type SubmitLimits,
  type SubmitOutcome,
  type TerminalStatus,
  type WebhookAttempt,
} from './job-repository.js';
export { inspectionQueues, type InspectedQueue } from './inspection-queues.js';
export { jobView, type Presigner } from './job-view.js';
export { cancelUnfinishedJobs } from './key-jobs.js';
export { Keys, keySlot, taggedPrefix } from './keys.js';
export { MODEL_REGISTRATION_TTL_MS, ModelRegistry } from './model-registry.js';
export { OutboxReader, type OutboxItem } from './outbox.js';
export { RedisJobRepository } from './redis-job-repository.js';
export { completeFromCopy, settleAttached, type AttachedHooks, type CopyImage } from './result-reuse.js';
export { MemoryRequestAnchors, RedisRequestAnchors, type RequestAnchors } from './request-anchors.js';
export {
  connectRedis,
  redisCall,
  redisOptions,
  REQUEST_COMMAND_TIMEOUT_MS,
  waitReady,
  type Cluster,
  type Redis,
  type RedisClient,
  type RedisRole,
} from './redis.js';
export { ReplicaAck, ReplicationTimeoutError, type ReplicaAckOptions } from './replica-ack.js';
export { WebhookQueue, webhookMessageId } from './webhook-queue.js';
