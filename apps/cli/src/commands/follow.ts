import type { ImageGen, Job } from '@imagegen/client';

import type { ProgressBar } from '../progress.js';

/**
 * Follows a job on its event stream until it ends and returns the final job. On a terminal the bar shows
 * the queue position (refreshed while queued), then each stage with its step; elsewhere `log` gets one line
 * per event.
 */
export async function followJob(
  client: ImageGen,
  id: string,
  options: { bar: ProgressBar; log?: ((line: string) => void) | undefined; signal?: AbortSignal },
): Promise<Job> {
  const { bar, log } = options;
  let queued = false;
  const showQueued = (position: number | null) =>
    bar.render(0, 'queued', position === null ? '' : `position ${position}`);
  // The stream says the position once; while the job waits, ask again now and then.
  const refresh = bar.enabled
    ? setInterval(() => {
        if (!queued) return;
        void client.get(id, { signal: options.signal }).then(
          (job) => queued && job.status === 'queued' && showQueued(job.queue_position),
          () => undefined,
        );
      }, 1000)
    : undefined;
  try {
    for await (const e of client.events(id, { signal: options.signal })) {
      queued = e.type === 'queued';
      switch (e.type) {
        case 'queued':
          showQueued(e.data.queue_position);
          log?.(`queued${e.data.queue_position === null ? '' : ` at position ${e.data.queue_position}`}`);
          break;
        case 'started':
          bar.render(0, 'started', `attempt ${e.data.attempt}`);
          log?.(`started (attempt ${e.data.attempt})`);
          break;
        case 'progress': {
          const { stage, step, total, progress } = e.data;
          if (step !== null && total !== null) bar.update(step, total, stage);
          else bar.render(progress, stage, `${Math.round(progress * 100)}%`);
          log?.(step !== null && total !== null ? `${stage} ${step}/${total}` : stage);
          break;
        }
        case 'completed':
          bar.done();
          log?.(e.data.status);
          return e.data;
      }
    }
  } finally {
    clearInterval(refresh);
    bar.done();
  }
  // The stream ends only after `completed`; should it not, the job's own state says how it ended.
  return client.wait(id, { signal: options.signal });
}
