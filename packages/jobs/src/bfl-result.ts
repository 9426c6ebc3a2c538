import type { Job } from '@imagegen/contracts';

/** BFL's result statuses, spelled as BFL spells them (clients compare these strings). */
export const BFL_STATUSES = [
  'Task not found',
  'Pending',
  'Request Moderated',
  'Content Moderated',
  'Ready',
  'Error',
] as const;
export type BflStatus = (typeof BFL_STATUSES)[number];

/** BFL's `ResultResponse` (`GET /v1/get_result`), and the body of its webhooks with `timestamp` added. */
export interface BflResult {
  id: string;
  status: BflStatus;
  /** When Ready: the image's URL as `sample`, the prompt it was generated from and its seed. */
  result: {
    sample: string;
    prompt: string;
    seed: number;
    start_time: number | null;
    end_time: number | null;
  } | null;
  /** 0–1 while Pending, 1 once Ready, else null. */
  progress: number | null;
  /** Why there is no image: `{"Moderation Reasons": [category]}`, or our error code and message. */
  details: Record<string, unknown> | null;
  preview: null;
}

const epochSeconds = (iso: string | null) => (iso === null ? null : Date.parse(iso) / 1000);

/** The BFL result of an id no job answers to (unknown, another key's, or purged after retention). */
export function bflNotFound(id: string): BflResult {
  return { id, status: 'Task not found', result: null, progress: null, details: null, preview: null };
}

/**
 * A job as BFL's API reports it: queued and processing are `Pending`; succeeded is `Ready` with
 * `result.sample` (or `Error` once its image expired); a prompt refused before generation is
 * `Request Moderated`, an image withheld by the safety check `Content Moderated`; failed, canceled and
 * expired jobs are `Error`.
 */
export function bflResult(job: Job): BflResult {
  const base = { id: job.id, result: null, progress: null, details: null, preview: null } as const;
  switch (job.status) {
    case 'queued':
    case 'processing':
      return { ...base, status: 'Pending', progress: job.progress };
    case 'succeeded':
      if (!job.output?.url) {
        return {
          ...base,
          status: 'Error',
          details: { code: 'expired', message: 'the image expired one hour after it was made; submit again' },
        };
      }
      return {
        ...base,
        status: 'Ready',
        progress: 1,
        result: {
          sample: job.output.url,
          prompt: job.revised_prompt ?? job.input.prompt,
          seed: job.input.seed,
          start_time: epochSeconds(job.started_at),
          end_time: epochSeconds(job.completed_at),
        },
      };
    case 'moderated':
      return {
        ...base,
        status: job.moderation?.stage === 'output' ? 'Content Moderated' : 'Request Moderated',
        details: { 'Moderation Reasons': job.moderation?.category ? [job.moderation.category] : [] },
      };
    case 'failed':
    case 'canceled':
    case 'expired':
      return {
        ...base,
        status: 'Error',
        details: {
          code: job.error?.code ?? job.status,
          message: job.error?.message ?? `the job ${job.status}`,
        },
      };
  }
}

/**
 * The body of a BFL-style webhook: the result with `timestamp`, and for a job without an image, `error`
 * and `message` as BFL's failure payloads carry them.
 */
export function bflWebhookBody(job: Job, at: Date): Record<string, unknown> {
  const r = bflResult(job);
  const failure =
    r.status === 'Ready' || r.status === 'Pending'
      ? {}
      : {
          error: job.error?.code ?? r.status,
          message: job.error?.message ?? r.status,
        };
  return { ...r, ...failure, timestamp: at.toISOString() };
}
