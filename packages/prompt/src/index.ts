/**
 * @imagegen/prompt — prompt analysis, lint, upsampling and moderation (safety_tolerance 0–6).
 * Dependency-free; the lexicons are JSON data files under packages/prompt/data/, loaded once at import.
 */
export { analyzePrompt, PROMPT_PARTS, type PromptAnalysis, type PromptPart } from './analyze.js';
export {
  LINT_CODES,
  lintPrompt,
  LONG_PROMPT_CHARS,
  SHORT_PROMPT_CHARS,
  type LintCode,
  type PromptWarning,
} from './lint.js';
export { domainWarning, type ModelDomain } from './domain.js';
export { MAX_PROMPT_CHARS, upsamplePrompt } from './upsample.js';
export {
  createUpsampler,
  DEFAULT_UPSAMPLER_TIMEOUT_MS,
  type Upsampler,
  type UpsamplerConfig,
  type UpsampleResult,
} from './upsampler.js';
export {
  DEFAULT_TOLERANCE,
  MAX_TOLERANCE,
  MIN_TOLERANCE,
  MODERATION_CATEGORIES,
  moderatePrompt,
  moderatePrompts,
  refusalMessage,
  type ModerationCategory,
  type ModerationResult,
  type Severity,
} from './moderation.js';
export {
  MAX_NORMALIZED_CHARS,
  normalizeForModeration,
  promptLengthRefusal,
  PromptTooLongError,
} from './normalize.js';
export {
  CLASSIFIER_CATEGORIES,
  CLASSIFIER_THRESHOLDS,
  classifierVerdict,
  createModerator,
  DEFAULT_CLASSIFIER_MODEL,
  DEFAULT_CLASSIFIER_TIMEOUT_MS,
  type ClassifierConfig,
  type ModerationVerdict,
  type PromptModerator,
} from './classifier.js';
export { evaluateCorpora, type CategoryFigures, type CorpusFailure, type CorpusReport } from './corpus.js';
