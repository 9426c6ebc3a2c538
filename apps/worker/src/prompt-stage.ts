import type { JobRecord } from '@imagegen/contracts';
import type { JobRepository } from '@imagegen/jobs';
import type { Logger, Metrics } from '@imagegen/observability';
import { refusalMessage, type PromptModerator, type Upsampler } from '@imagegen/prompt';

export interface PromptStageDeps {
  jobs: Pick<JobRepository, 'finish' | 'setRevisedPrompt'>;
  upsampler: Upsampler;
  moderator: PromptModerator;
  metrics: Pick<Metrics, 'moderationErrors' | 'promptsRefused' | 'jobsFinished'>;
}

/**
 * The prompt to generate from. With prompt_upsampling, the revised prompt — kept on the record so a retry
 * reuses it (an LLM need not answer twice the same) — and moderated again, together with the original: a
 * refused revision ends the job as `moderated` before any GPU time is spent. Null when the job has ended
 * here.
 */
export async function preparePrompt(
  deps: PromptStageDeps,
  record: JobRecord,
  log: Logger,
): Promise<string | null> {
  const { jobs, upsampler, moderator, metrics } = deps;
  const { prompt, seed, safety_tolerance: tolerance } = record.input;
  if (!record.input.prompt_upsampling) return prompt;
  let revised = record.revisedPrompt;
  if (revised === null) {
    const up = await upsampler.upsample(prompt, seed);
    if (up.fallback_reason) log.warn({ reason: up.fallback_reason }, 'LLM upsampler failed; used the rules');
    revised = up.prompt;
  }
  const verdict = await moderator.moderate([prompt, revised], tolerance);
  if (verdict.classifier_error) metrics.moderationErrors.inc({ reason: verdict.classifier_error });
  if (!verdict.allowed && verdict.category) {
    metrics.promptsRefused.inc({ category: verdict.category, stage: 'revised' });
    const r = await jobs.finish(record.id, record.keyId, 'moderated', {
      error: {
        code: 'content_policy_violation',
        message: refusalMessage(verdict.category),
        retryable: false,
      },
      moderation: { stage: 'input', category: verdict.category },
    });
    if (r.kind === 'done') metrics.jobsFinished.inc({ outcome: 'moderated' });
    return null;
  }
  await jobs.setRevisedPrompt(record.id, revised);
  return revised;
}
