import { WORKER_LOST_ERROR, type GenerationQueue, type JobRepository } from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';

export interface JanitorDeps {
  jobs: Pick<
    JobRepository,
    'get' | 'expireOverdue' | 'enqueueIntents' | 'clearEnqueueIntent' | 'runningSince' | 'finish'
  >;
  queue: Pick<GenerationQueue, 'enqueue' | 'remove' | 'state'>;
  storage: { sweep(): Promise<number> };
  metrics: Pick<Metrics, 'jobsFinished' | 'jobsEnqueuedLate'>;
  logger: Logger;
  /** An enqueue intent older than this was left behind by a submit that died (the API clears its own at once). */
  intentGraceMs: number;
  /** A job processing for longer than this is checked against BullMQ (default 60 s). */
  orphanAfterMs?: number;
}

/** BullMQ states in which no worker will run the job again. */
const SETTLED_IN_BULLMQ = new Set(['completed', 'failed', 'unknown']);

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
 * - `sweep`: stored images older than IMAGE_TTL_MS are deleted (S3 lifecycle rules count whole days);
 * - `reapOrphans`: a job still `processing` that BullMQ no longer runs (finished, failed or gone: its
 *   last attempt ended where the worker could not settle it) ends `failed` (worker_lost), so its client,
 *   stream and webhook hear a terminal state and its key's slot is freed.
 */
export class Janitor {
  constructor(private readonly deps: JanitorDeps) {}

  readonly enqueueLeftBehind = singleFlight(async (): Promise<number> => {
    const { jobs, queue } = this.deps;
    let handed = 0;
    for (const id of await jobs.enqueueIntents(this.deps.intentGraceMs)) {
      const record = await jobs.get(id);
      if (record?.status === 'queued' && !record.held) {
        await queue.enqueue({ id, keyId: record.keyId, objectKey: record.objectKey }, record.priority);
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

  readonly reapOrphans = singleFlight(async (): Promise<number> => {
    let ended = 0;
    for (const { id, keyId } of await this.deps.jobs.runningSince(this.deps.orphanAfterMs ?? 60_000)) {
      const state = await this.deps.queue.state(id);
      if (!SETTLED_IN_BULLMQ.has(state)) continue;
      const r = await this.deps.jobs.finish(
        id,
        keyId,
        'failed',
        { error: WORKER_LOST_ERROR },
        { onlyFrom: 'processing' },
      );
      if (r.kind === 'done') ended++;
    }
    if (ended > 0) {
      this.deps.metrics.jobsFinished.inc({ outcome: 'failed' }, ended);
      this.deps.logger.warn({ jobs: ended }, 'jobs no worker will settle ended as worker_lost');
    }
    return ended;
  });

  readonly sweep = singleFlight(async (): Promise<number> => {
    const n = await this.deps.storage.sweep();
    if (n > 0) this.deps.logger.info({ deleted: n }, 'expired images deleted');
    return n;
  });
}
