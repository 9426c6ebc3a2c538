import type { GenerationQueue } from './generation-queue.js';
import type { JobRepository } from './job-repository.js';

/**
 * Cancels every unfinished job of an API key, as its revocation must (issue 17, finding 11: a revoked
 * key's queued jobs still ran). Queued jobs end `canceled` at once and leave the queue; running ones are
 * flagged and their workers stop at the next denoising step. Returns how many of each.
 */
export async function cancelUnfinishedJobs(
  deps: {
    jobs: Pick<JobRepository, 'listForKey' | 'finish' | 'requestCancel'>;
    queue: Pick<GenerationQueue, 'remove'>;
  },
  keyId: string,
): Promise<{ queued: number; running: number }> {
  const done = { queued: 0, running: 0 };
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await deps.jobs.listForKey(keyId, {
      limit: 100,
      statuses: ['queued', 'processing'],
      beforeSeq,
    });
    for (const r of page.records) {
      if (r.status === 'queued') {
        const ended = await deps.jobs.finish(r.id, keyId, 'canceled', {}, { onlyFrom: 'queued' });
        if (ended.kind === 'done') {
          done.queued++;
          await deps.queue.remove(r.id).catch(() => undefined); // a worker that takes it skips it
          continue;
        }
      }
      // Running, or taken by a worker meanwhile.
      if ((await deps.jobs.requestCancel(r.id)) === 'processing') done.running++;
    }
    if (page.nextBeforeSeq === null) return done;
    beforeSeq = page.nextBeforeSeq;
  }
}
