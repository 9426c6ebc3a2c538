import { z } from 'zod';

import { checkField, httpUrl, int } from './fields.js';

/**
 * The moderation model's settings, as @imagegen/prompt's `createModerator` takes them (its
 * `ClassifierConfig`). They are parsed here because contracts owns the environment schema and prompt
 * stays dependency-free; the shape is structural, and the apps' config types check it against prompt's.
 */
export interface ModerationModelConfig {
  /** API root; `/moderations` is appended. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  timeoutMs: number;
}

/** The prompt upsampler's settings, as @imagegen/prompt's `createUpsampler` takes them (`UpsamplerConfig`). */
export type UpsamplerSettings =
  { kind: 'rules' } | { kind: 'llm'; baseUrl: string; model: string; apiKey?: string; timeoutMs: number };

/** Same defaults as @imagegen/prompt's DEFAULT_CLASSIFIER_MODEL / _TIMEOUT_MS and DEFAULT_UPSAMPLER_TIMEOUT_MS. */
const DEFAULT_MODERATION_MODEL = 'omni-moderation-latest';
const DEFAULT_MODERATION_TIMEOUT_MS = 3000;
const DEFAULT_UPSAMPLER_TIMEOUT_MS = 10_000;

const optionalText = z.string().optional();

/**
 * The moderation model consulted after the word lists → `moderation`: `MODERATION_BASE_URL` (an
 * http(s) API root; unset or empty = word lists only, and the other variables are then ignored),
 * `MODERATION_MODEL` (default omni-moderation-latest), `MODERATION_API_KEY`, `MODERATION_TIMEOUT_MS`
 * (a positive integer, default 3000).
 */
export const ModerationEnv = z
  .object({
    MODERATION_BASE_URL: optionalText,
    MODERATION_MODEL: optionalText,
    MODERATION_API_KEY: optionalText,
    MODERATION_TIMEOUT_MS: optionalText,
  })
  .transform((env, ctx): { moderation: ModerationModelConfig | null } => {
    if (!env.MODERATION_BASE_URL) return { moderation: null };
    const baseUrl = checkField(ctx, 'MODERATION_BASE_URL', httpUrl, env.MODERATION_BASE_URL);
    const timeoutMs = checkField(
      ctx,
      'MODERATION_TIMEOUT_MS',
      int(DEFAULT_MODERATION_TIMEOUT_MS, 1),
      env.MODERATION_TIMEOUT_MS,
    );
    if (baseUrl === undefined || timeoutMs === undefined) return z.NEVER;
    const moderation: ModerationModelConfig = {
      baseUrl,
      timeoutMs,
      model: env.MODERATION_MODEL || DEFAULT_MODERATION_MODEL,
    };
    if (env.MODERATION_API_KEY) moderation.apiKey = env.MODERATION_API_KEY;
    return { moderation };
  });

/**
 * The prompt upsampler → `upsampler`: `PROMPT_UPSAMPLER` (`rules`, the default, or `llm`). With `llm`,
 * `UPSAMPLER_BASE_URL` (an http(s) API root) and `UPSAMPLER_MODEL` are required, `UPSAMPLER_API_KEY` is
 * optional and `UPSAMPLER_TIMEOUT_MS` is a positive integer (default 10000); with `rules` they are
 * ignored.
 */
export const UpsamplerEnv = z
  .object({
    PROMPT_UPSAMPLER: z.enum(['rules', 'llm'], { error: 'must be "rules" or "llm"' }).default('rules'),
    UPSAMPLER_BASE_URL: optionalText,
    UPSAMPLER_MODEL: optionalText,
    UPSAMPLER_API_KEY: optionalText,
    UPSAMPLER_TIMEOUT_MS: optionalText,
  })
  .transform((env, ctx): { upsampler: UpsamplerSettings } => {
    if (env.PROMPT_UPSAMPLER === 'rules') return { upsampler: { kind: 'rules' } };
    const required = (variable: string) => {
      ctx.addIssue({ code: 'custom', path: [variable], message: 'is required when PROMPT_UPSAMPLER=llm' });
      return undefined;
    };
    const baseUrl = env.UPSAMPLER_BASE_URL
      ? checkField(ctx, 'UPSAMPLER_BASE_URL', httpUrl, env.UPSAMPLER_BASE_URL)
      : required('UPSAMPLER_BASE_URL');
    const model = env.UPSAMPLER_MODEL || required('UPSAMPLER_MODEL');
    const timeoutMs = checkField(
      ctx,
      'UPSAMPLER_TIMEOUT_MS',
      int(DEFAULT_UPSAMPLER_TIMEOUT_MS, 1),
      env.UPSAMPLER_TIMEOUT_MS,
    );
    if (baseUrl === undefined || model === undefined || timeoutMs === undefined) return z.NEVER;
    const upsampler: UpsamplerSettings = { kind: 'llm', baseUrl, model, timeoutMs };
    if (env.UPSAMPLER_API_KEY) upsampler.apiKey = env.UPSAMPLER_API_KEY;
    return { upsampler };
  });
