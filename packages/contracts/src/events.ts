import type { Job, JobStage } from './api.js';

/** Events of one job, in order, as the SSE stream and webhooks carry them. */
export type JobEvent =
  | { type: 'queued'; queue_position: number | null }
  | { type: 'started'; attempt: number }
  | { type: 'progress'; stage: JobStage; step: number | null; total: number | null; progress: number }
  | { type: 'completed'; job: Job };

export type JobEventType = JobEvent['type'];
