import { Queue, type ConnectionOptions } from 'bullmq';

import { Keys } from './keys.js';

export const GENERATION_QUEUE = 'generations';

/** What a generation job carries through BullMQ; everything else lives in the job record. */
export interface GenerationPayload {
  id: string;
  keyId: string;
  /** Object key chosen at submit, so every retry writes the same object (no orphans). */
  objectKey: string;
}

/**
 * BullMQ job options: transient failures (storage, Redis) retry with exponential backoff and jitter;
 * finished BullMQ jobs are dropped quickly (the job record is what clients read).
 */
export const GENERATION_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 86_400, count: 5000 },
} as const;

export function generationQueue(
  connection: ConnectionOptions,
  prefix = 'imagegen',
): Queue<GenerationPayload> {
  return new Queue<GenerationPayload>(GENERATION_QUEUE, {
    connection,
    prefix: new Keys(prefix).bullPrefix(),
  });
}
