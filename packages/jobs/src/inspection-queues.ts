import { Queue } from 'bullmq';

import { JOB_CATALOG } from '@imagegen/contracts';

import { Keys } from './keys.js';
import type { RedisClient } from './redis.js';

/** BullMQ's Queue, for tools that inspect queues (the admin queue dashboard). */
export type InspectedQueue = Queue;

/**
 * One BullMQ `Queue` per queue of the job catalog (generations, webhooks) under the service's prefix,
 * for an operator's dashboard to read: nothing here adds jobs. `close()` closes them all.
 */
export function inspectionQueues(
  connection: RedisClient,
  prefix: string,
  onError: (err: Error) => void = () => undefined,
): { queues: InspectedQueue[]; close: () => Promise<void> } {
  const names = [...new Set(Object.values(JOB_CATALOG).map((entry) => entry.queue))];
  const queues = names.map((name) => {
    const q = new Queue(name, { connection, prefix: new Keys(prefix).bullPrefix() });
    q.on('error', onError);
    return q;
  });
  return {
    queues,
    close: async () => {
      await Promise.allSettled(queues.map((q) => q.close()));
    },
  };
}
