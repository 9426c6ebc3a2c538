import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';

import { JOB_CATALOG, type GenerationPayload } from '@imagegen/contracts';

import { PRIORITY_LIMIT } from './job-repository.js';
import { Keys } from './keys.js';
import { redisCall } from './redis.js';

const GENERATE = JOB_CATALOG.generate;

/** The producer side of the generation queue: the only BullMQ producer of the apps. */
export interface GenerationQueue {
  /**
   * Adds the job (idempotent: the BullMQ job id is the job id, so adding twice is a no-op) with its
   * priority, the job's round in the fair order over keys (1 = taken first; 0 or none: ahead of all).
   */
  enqueue(payload: GenerationPayload, priority?: number): Promise<void>;
  /** Removes a job that will never run (canceled or expired while waiting). */
  remove(jobId: string): Promise<void>;
  /**
   * Where BullMQ has the job: 'waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', … or
   * 'unknown' when it holds no such job.
   */
  state(jobId: string): Promise<string>;
  /** BullMQ's counts by state, for the queue-depth metric. */
  counts(): Promise<Record<string, number>>;
  /**
   * BullMQ's own Prometheus text for this queue (`bullmq_job_count{queue,state}` and its completed and
   * failed totals), each sample carrying `labels` too.
   */
  prometheusMetrics(labels: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export class BullGenerationQueue implements GenerationQueue {
  private readonly queue: Queue<GenerationPayload>;

  constructor(connection: Redis | Cluster, prefix: string, onError: (err: Error) => void = () => undefined) {
    this.queue = new Queue<GenerationPayload>(GENERATE.queue, {
      connection,
      prefix: new Keys(prefix).bullPrefix(),
    });
    this.queue.on('error', onError);
  }

  async enqueue(payload: GenerationPayload, priority = 0): Promise<void> {
    await redisCall(() =>
      this.queue.add(GENERATE.name, payload, {
        jobId: payload.id,
        ...(priority > 0 ? { priority: Math.min(priority, PRIORITY_LIMIT) } : {}),
        attempts: GENERATE.attempts,
        backoff: GENERATE.backoff,
        removeOnComplete: GENERATE.removeOnComplete,
        removeOnFail: GENERATE.removeOnFail,
      }),
    );
  }

  async remove(jobId: string): Promise<void> {
    await redisCall(() => this.queue.remove(jobId));
  }

  state(jobId: string): Promise<string> {
    return redisCall(() => this.queue.getJobState(jobId));
  }

  counts(): Promise<Record<string, number>> {
    return redisCall(() => this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'));
  }

  prometheusMetrics(labels: Record<string, string>): Promise<string> {
    return redisCall(() => this.queue.exportPrometheusMetrics(labels));
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
