import { DelayedError, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';

import { JOB_CATALOG, type JobName, type JobPayload } from '@imagegen/contracts';

import { Keys } from './keys.js';

/** What a handler knows about the BullMQ job it runs. */
export interface ConsumedJob<N extends JobName> {
  id: string;
  data: JobPayload<N>;
  /** Attempts that ended before this one (a thrown error counts, a crash does not). */
  attemptsMade: number;
  /** Times this job's worker died under it (BullMQ's stall count). */
  stalledCounter: number;
  /** Attempts this job may make in all. */
  maxAttempts: number;
  /**
   * Puts the job back in the queue to run again in `ms`, without spending an attempt, and ends this run
   * (it throws: `return job.defer(ms)`). For work that may not go now, so it does not hold a slot.
   */
  defer(ms: number): Promise<never>;
}

/** A handler for each catalog job a process consumes: forgetting one is a compile error. */
export type JobHandlers<N extends JobName> = { [K in N]: (job: ConsumedJob<K>) => Promise<void> };

/**
 * Tells BullMQ not to try the job again (it is settled, or retrying cannot help). Any other error a handler
 * throws is retried with the catalog's backoff until the attempts run out.
 */
export function doNotRetry(reason: string): Error {
  return new UnrecoverableError(reason);
}

export interface ConsumerOptions {
  connection: Redis | Cluster;
  prefix: string;
  concurrency: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Stalls (worker deaths) after which BullMQ itself fails a job. */
  maxStalledCount?: number;
  /** The delay before each retry of a catalog entry whose backoff type is custom (BullMQ backoffStrategy). */
  backoff?: (attemptsMade: number, type: string | undefined, err: Error | undefined) => number;
  onError?: (err: Error) => void;
  autorun?: boolean;
}

/** A running consumer of one catalog queue. */
export interface Consumer {
  isRunning(): boolean;
  waitUntilReady(): Promise<void>;
  run(): Promise<void>;
  /** Stops taking jobs; `force` abandons running ones (they stall and go to another consumer). */
  close(force?: boolean): Promise<void>;
}

/** Consumes one catalog queue; the handler's payload type comes from the catalog. */
export function createConsumer<N extends JobName>(
  name: N,
  handler: (job: ConsumedJob<N>) => Promise<void>,
  options: ConsumerOptions,
): Consumer {
  const entry = JOB_CATALOG[name];
  const worker = new Worker<JobPayload<N>>(
    entry.queue,
    (job: BullJob<JobPayload<N>>, token?: string) =>
      handler({
        id: job.id ?? '',
        data: entry.payload.parse(job.data) as JobPayload<N>,
        attemptsMade: job.attemptsMade,
        stalledCounter: job.stalledCounter,
        maxAttempts: job.opts.attempts ?? entry.attempts,
        defer: async (ms) => {
          await job.moveToDelayed(Date.now() + Math.max(0, ms), token);
          throw new DelayedError();
        },
      }),
    {
      connection: options.connection,
      prefix: new Keys(options.prefix).bullPrefix(),
      concurrency: options.concurrency,
      autorun: options.autorun ?? true,
      ...(options.lockDurationMs === undefined ? {} : { lockDuration: options.lockDurationMs }),
      ...(options.stalledIntervalMs === undefined ? {} : { stalledInterval: options.stalledIntervalMs }),
      ...(options.maxStalledCount === undefined ? {} : { maxStalledCount: options.maxStalledCount }),
      ...(options.backoff ? { settings: { backoffStrategy: options.backoff } } : {}),
    },
  );
  worker.on('error', options.onError ?? (() => undefined));
  return {
    isRunning: () => worker.isRunning(),
    waitUntilReady: async () => {
      await worker.waitUntilReady();
    },
    run: () => worker.run(),
    close: (force = false) => worker.close(force),
  };
}
