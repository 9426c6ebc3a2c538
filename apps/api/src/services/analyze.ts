import { AnalyzePromptRequest, type AnalyzePromptResponse } from '@imagegen/contracts';
import type { Metrics } from '@imagegen/observability';
import {
  analyzePrompt,
  domainWarning,
  lintPrompt,
  type ModelDomain,
  type PromptModerator,
} from '@imagegen/prompt';

import { checkPromptLength, validationError } from './validation.js';

export interface AnalyzeDeps {
  moderator: PromptModerator;
  /** The models the workers run, as registered (cached by the caller). */
  modelDomains: () => Promise<readonly ModelDomain[]>;
  metrics: Pick<Metrics, 'moderationErrors'>;
}

/** The warnings a submit records on the job: lint, and `outside_model_domain`. */
export async function promptWarnings(
  deps: Pick<AnalyzeDeps, 'modelDomains'>,
  prompt: string,
  analysis: ReturnType<typeof analyzePrompt>,
) {
  const warnings = lintPrompt(prompt, analysis);
  const outside = domainWarning(prompt, await deps.modelDomains().catch(() => []));
  return outside ? [...warnings, outside] : warnings;
}

/**
 * `POST /v1/prompts/analyze`: what a submit would make of a prompt — its analysis, the advice, and the
 * moderation verdict at the tolerance — with nothing queued.
 */
export async function analyzePromptRequest(deps: AnalyzeDeps, body: unknown): Promise<AnalyzePromptResponse> {
  const parsed = AnalyzePromptRequest.safeParse(body);
  if (!parsed.success) throw validationError(parsed.error);
  const { prompt, safety_tolerance } = parsed.data;
  checkPromptLength(prompt);
  const analysis = analyzePrompt(prompt);
  const verdict = await deps.moderator.moderate([prompt], safety_tolerance);
  if (verdict.classifier_error) deps.metrics.moderationErrors.inc({ reason: verdict.classifier_error });
  return {
    object: 'prompt.analysis',
    analysis: { ...analysis },
    warnings: await promptWarnings(deps, prompt, analysis),
    moderation: {
      allowed: verdict.allowed,
      category: verdict.allowed ? null : (verdict.category ?? null),
      safety_tolerance,
    },
  };
}
