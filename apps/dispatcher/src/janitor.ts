import type { GenerationQueue, JobRepository } from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';

export interface JanitorDeps {
  jobs: Pick<JobRepository, 'get' | 'expireOverdue' | 'enqueueIntents' | 'clearEnqueueIntent'>;
  queue: Pick<GenerationQueue, 'enqueue' | 'remove'>;
  storage: { sweep(): Promise<number> };
  metrics: Pick<Metrics, 'jobsFinished' | 'jobsEnqueuedLate'>;
  logger: Logger;
  /** An enqueue intent older than this was left behind by a submit that died (the API clears its own at once). */
  intentGraceMs: number;
}

/** One run of a duty at a time: a call while one runs joins it. */
function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => {
    running ??= fn().finally(() => {
      running = null;
    });
    return running;
  };
}

/**
 * The dispatcher's periodic duties, each safe to run from any number of dispatchers at once:
 * - `enqueueLeftBehind`: jobs whose submit wrote the record and its enqueue intent but died before handing
 *   the job to BullMQ are handed over (idempotent: the BullMQ job id is the job id);
 * - `expireOverdue`: queued jobs past their deadline end as `expired`, even with no worker running;
 * - `sweep`: stored images older than IMAGE_TTL_MS are deleted (S3 lifecycle rules count whole days).
 */
export class Janitor {
  constructor(private readonly deps: JanitorDeps) {}

  readonly enqueueLeftBehind = singleFlight(async (): Promise<number> => {
    const { jobs, queue } = this.deps;
    let handed = 0;
    for (const id of await jobs.enqueueIntents(Date.now() - this.deps.intentGraceMs)) {
      const record = await jobs.get(id);
      if (record?.status === 'queued') {
        await queue.enqueue({ id, keyId: record.keyId, objectKey: record.objectKey });
        handed++;
      }
      await jobs.clearEnqueueIntent(id);
    }
    if (handed > 0) {
      this.deps.metrics.jobsEnqueuedLate.inc(handed);
      this.deps.logger.warn({ jobs: handed }, 'jobs left behind by a submit handed to the queue');
    }
    return handed;
  });

  readonly expireOverdue = singleFlight(async (): Promise<number> => {
    const ended = await this.deps.jobs.expireOverdue();
    for (const { id } of ended) await this.deps.queue.remove(id).catch(() => undefined);
    if (ended.length > 0) {
      this.deps.metrics.jobsFinished.inc({ outcome: 'expired' }, ended.length);
      this.deps.logger.info({ expired: ended.length }, 'queued jobs past their deadline expired');
    }
    return ended.length;
  });

  readonly sweep = singleFlight(async (): Promise<number> => {
    const n = await this.deps.storage.sweep();
    if (n > 0) this.deps.logger.info({ deleted: n }, 'expired images deleted');
    return n;
  });
}
