import { TERMINAL_STATUSES, type JobRecord } from '@imagegen/contracts';
import type { GenerationQueue, JobRepository } from '@imagegen/jobs';

import { conflict } from './errors.js';
import { waitForTerminal, type WaitDeps } from './wait.js';

export interface CancelDeps extends WaitDeps {
  jobs: Pick<JobRepository, 'get' | 'finish' | 'requestCancel'>;
  queue: Pick<GenerationQueue, 'remove'>;
  /** How long to wait for a running job's worker to stop. Default 10 s. */
  runningWaitS?: number;
}

const alreadyEnded = (status: string) =>
  conflict(`the generation already ended as ${status}; nothing to cancel`);

/**
 * Cancels a job. Queued: ends it at once and drops it from the queue. Running: flags it, and the worker
 * stops at its next denoising step (waited for up to `runningWaitS`). Canceling a canceled job returns
 * it; canceling one that ended otherwise is a conflict. Returns the job and whether it is now canceled.
 */
export async function cancelGeneration(
  deps: CancelDeps,
  record: JobRecord,
): Promise<{ record: JobRecord; canceled: boolean }> {
  if (record.status === 'canceled') return { record, canceled: true };
  if (TERMINAL_STATUSES.includes(record.status)) throw alreadyEnded(record.status);
  if (record.status === 'queued') {
    const done = await deps.jobs.finish(record.id, record.keyId, 'canceled', {}, { onlyFrom: 'queued' });
    // Best effort: a worker that takes it anyway finds it canceled and skips it.
    if (done.kind === 'done') await deps.queue.remove(record.id).catch(() => undefined);
  }
  let current = record;
  // Running (or taken by a worker meanwhile): the worker stops at its next denoising step.
  if ((await deps.jobs.requestCancel(record.id)) === 'processing') {
    current = await waitForTerminal(deps, record, deps.runningWaitS ?? 10);
  }
  current = (await deps.jobs.get(record.id)) ?? current;
  if (current.status !== 'canceled' && TERMINAL_STATUSES.includes(current.status)) {
    throw alreadyEnded(current.status);
  }
  return { record: current, canceled: current.status === 'canceled' };
}
