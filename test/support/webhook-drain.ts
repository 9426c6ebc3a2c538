import { Queue } from 'bullmq';

import { JOB_CATALOG } from '@imagegen/contracts';
import { connectRedis, Keys } from '@imagegen/jobs';

import { until } from './processes.js';

/**
 * Resolves once every webhook delivery the stack intended is settled: the outbox stream is empty (each
 * intent handed to the delivery queue) and the delivery queue has nothing waiting, delayed (a retry) or
 * running. A positive barrier for "no further delivery arrives": after it, the receiver has seen all.
 */
export async function webhooksSettled(env: Record<string, string>): Promise<void> {
  const redis = connectRedis(env['REDIS_URL']!, 'worker');
  const keys = new Keys(env['REDIS_PREFIX']!);
  const queue = new Queue(JOB_CATALOG.deliverWebhook.queue, { connection: redis, prefix: keys.bullPrefix() });
  try {
    await until('the webhook outbox and delivery queue to be empty', async () => {
      const [outbox, counts] = await Promise.all([
        redis.xlen(keys.webhookOutbox()),
        queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children'),
      ]);
      return outbox === 0 && Object.values(counts).every((n) => n === 0);
    });
  } finally {
    await queue.close();
    redis.disconnect();
  }
}
