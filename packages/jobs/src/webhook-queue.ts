import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';

import { JOB_CATALOG, type WebhookDelivery } from '@imagegen/contracts';

import { Keys } from './keys.js';
import { redisCall } from './redis.js';

const DELIVER = JOB_CATALOG.deliverWebhook;

/** `msg_<job id>_<event id>`: unique per event, the same on every retry, no "." (Standard Webhooks). */
export function webhookMessageId(jobId: string, eventId: string): string {
  return `msg_${jobId}_${eventId.replace('-', '_')}`;
}

/** The producer side of the webhook delivery queue (the dispatcher's outbox pump). */
export class WebhookQueue {
  private readonly queue: Queue<WebhookDelivery>;

  constructor(connection: Redis | Cluster, prefix: string, onError: (err: Error) => void = () => undefined) {
    this.queue = new Queue<WebhookDelivery>(DELIVER.queue, {
      connection,
      prefix: new Keys(prefix).bullPrefix(),
    });
    this.queue.on('error', onError);
  }

  /** Queues one delivery; its BullMQ id is the webhook-id, so queueing the same event twice is a no-op. */
  async add(delivery: WebhookDelivery, attempts: number): Promise<void> {
    await redisCall(() =>
      this.queue.add(DELIVER.name, delivery, {
        jobId: webhookMessageId(delivery.jobId, delivery.eventId),
        attempts,
        backoff: DELIVER.backoff,
        removeOnComplete: DELIVER.removeOnComplete,
        removeOnFail: DELIVER.removeOnFail,
      }),
    );
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
