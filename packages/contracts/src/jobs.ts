import { z } from 'zod';

import { Job, WEBHOOK_EVENTS } from './api.js';

/** What a generation job carries through BullMQ; everything else lives in the job record. */
export const GenerationPayload = z.object({
  id: z.string(),
  keyId: z.string(),
  /** Object key chosen at submit, so every retry writes the same object (no orphans). */
  objectKey: z.string(),
});
export type GenerationPayload = z.infer<typeof GenerationPayload>;

/** One event to deliver to one job's webhook; the BullMQ job id is the `webhook-id`. */
export const WebhookDelivery = z.object({
  jobId: z.string(),
  keyId: z.string(),
  url: z.string(),
  kind: z.enum(WEBHOOK_EVENTS),
  /** The job event's stream id; its time part is the event's timestamp. */
  eventId: z.string(),
  /** The job object when the terminal event happened, sent if the record is purged before delivery. */
  snapshot: Job.nullable(),
  /** `bfl`: BFL's body instead of the job object (jobs submitted through the BFL adapter). */
  format: z.enum(['standard', 'bfl']).optional(),
  /** The request's BFL `webhook_secret`: the body is also signed as `X-BFL-Signature: sha256=<hex>`. */
  bflSecret: z.string().optional(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

interface CatalogEntry<P extends z.ZodType> {
  /** The BullMQ queue (under the service's hash-tagged prefix). */
  queue: string;
  /** The BullMQ job name. */
  name: string;
  payload: P;
  /** BullMQ attempts (transient failures are retried until then). */
  attempts: number;
  backoff: { type: string; delay?: number; jitter?: number };
  /**
   * How long one attempt may run by default (the worker's JOB_TIMEOUT_MS, the dispatcher's
   * WEBHOOK_TIMEOUT_MS override it); past it the attempt is aborted and its deadline enforced.
   */
  timeoutMs: number;
  removeOnComplete: { age: number; count: number };
  removeOnFail: { age: number; count: number };
}

/**
 * Every BullMQ job of the service: name, payload schema, attempts, backoff, retention. The producers
 * (`GenerationQueue`, the dispatcher's outbox pump) and the consumers read their options from here, and a
 * consumer must register a handler for each entry it consumes (`JobHandlers` in @imagegen/jobs makes a missing one a
 * compile error).
 */
export const JOB_CATALOG = {
  /** One image generation. Transient failures (storage, Redis, a lost engine) retry with backoff. */
  generate: {
    queue: 'generations',
    name: 'generate',
    payload: GenerationPayload,
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
    timeoutMs: 300_000,
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: { age: 86_400, count: 5000 },
  },
  /**
   * One webhook event. Terminal events get the full retry schedule (WEBHOOK_RETRY_SCHEDULE, its length
   * + 1 attempts, set per delivery); queued/started/progress get `attempts` (they are soon stale).
   */
  deliverWebhook: {
    queue: 'webhooks',
    name: 'deliver',
    payload: WebhookDelivery,
    attempts: 3,
    backoff: { type: 'webhook' },
    timeoutMs: 15_000,
    removeOnComplete: { age: 86_400, count: 10_000 },
    removeOnFail: { age: 7 * 86_400, count: 10_000 },
  },
} as const satisfies Record<string, CatalogEntry<z.ZodType>>;

export type JobCatalog = typeof JOB_CATALOG;
export type JobName = keyof JobCatalog;
export type JobPayload<N extends JobName> = z.infer<JobCatalog[N]['payload']>;
