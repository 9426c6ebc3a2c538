import type { JobImage, JobModel, JobOutcomeFields } from '@imagegen/contracts';

import type { JobRepository, ReleasedJob, TerminalStatus } from './job-repository.js';

/** A server-side copy of a stored image to a new object key, with a fresh life of its own. */
export type CopyImage = (fromKey: string, toKey: string) => Promise<void>;

/** What a finish does with the jobs attached to the finished one. */
export interface AttachedHooks {
  /** Copies the image (workers have the object store); absent: attached jobs run on their own. */
  copyImage?: CopyImage | undefined;
  /** Hands a released job to BullMQ; absent or failing: the dispatcher enqueues its intent. */
  enqueueReleased?: ((job: ReleasedJob) => Promise<void>) | undefined;
}

type Jobs = Pick<JobRepository, 'finish' | 'clearEnqueueIntent'>;

/**
 * Completes a waiting job (`target`) with a copy of an identical request's image (`source`): the copy gets
 * its own object key and one-hour life, the job ends `succeeded` with `cached: true`. Returns false when the
 * copy failed (the source's object is gone, the store is down): the job is untouched and should run on its
 * own. A job canceled meanwhile keeps its status and its copy is deleted by the sweeper within the TTL.
 */
export async function completeFromCopy(
  jobs: Jobs,
  copyImage: CopyImage,
  target: Pick<ReleasedJob, 'id' | 'keyId' | 'objectKey'>,
  source: { image: JobImage; model: JobModel | null },
): Promise<boolean> {
  const t0 = performance.now();
  try {
    await copyImage(source.image.key, target.objectKey);
  } catch {
    return false;
  }
  await jobs.finish(
    target.id,
    target.keyId,
    'succeeded',
    {
      image: { ...source.image, key: target.objectKey },
      ...(source.model ? { model: source.model } : {}),
      timings: { copy: Math.round(performance.now() - t0) },
      cached: true,
    },
    { onlyFrom: 'queued' },
  );
  return true;
}

/**
 * Settles the jobs a finish released from their attachment to the finished job: after a success, each gets
 * a copy of its image; otherwise (or when a copy fails) each is enqueued to generate on its own. Every one
 * already waits with an enqueue intent, so a process that dies here loses none: the dispatcher enqueues it.
 */
export async function settleAttached(
  jobs: Jobs,
  attached: readonly ReleasedJob[],
  status: TerminalStatus,
  data: JobOutcomeFields,
  hooks: AttachedHooks,
): Promise<void> {
  const { image } = data;
  for (const job of attached) {
    try {
      if (status === 'succeeded' && image && hooks.copyImage) {
        if (await completeFromCopy(jobs, hooks.copyImage, job, { image, model: data.model ?? null }))
          continue;
      }
      if (hooks.enqueueReleased) {
        await hooks.enqueueReleased(job);
        await jobs.clearEnqueueIntent(job.id);
      }
    } catch {
      // The job waits with its enqueue intent: the dispatcher enqueues it.
    }
  }
}
