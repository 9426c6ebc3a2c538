import { LEXICON } from './moderation-lexicon.js';
import { findMatches } from './moderation-match.js';
import {
  clampTolerance,
  MODERATION_CATEGORIES,
  rank,
  type ModerationCategory,
  type ModerationResult,
  type Severity,
} from './moderation-policy.js';

export {
  clampTolerance,
  DEFAULT_TOLERANCE,
  MAX_TOLERANCE,
  MIN_TOLERANCE,
  MODERATION_CATEGORIES,
  type ModerationCategory,
  type ModerationResult,
  type Severity,
} from './moderation-policy.js';
export { inflections } from './moderation-lexicon.js';

/**
 * Moderates a prompt against the lexicon in data/moderation-lexicon.json. A prompt is refused when
 * its worst severity exceeds `tolerance` (integer 0–6, clamped): tolerance 0 refuses severity ≥ 1,
 * 2 refuses ≥ 3, 6 refuses only `illegal`, which is refused at every tolerance. Strictness is
 * therefore monotone: a prompt allowed at t is allowed at every t' > t.
 */
export function moderatePrompt(prompt: string, tolerance: number): ModerationResult {
  const text = typeof prompt === 'string' ? prompt : '';
  const { entries, minorAge } = findMatches(text);
  const tags = new Set<string>();
  const hits: { category: ModerationCategory; severity: Severity }[] = [];
  for (const e of entries) for (const tag of e.tags) tags.add(tag);
  for (const e of entries)
    if (e.category !== null && e.severity !== null && !e.unless.some((t) => tags.has(t)))
      hits.push({ category: e.category, severity: e.severity });
  if (minorAge) tags.add('minor');
  for (const rule of LEXICON.rules) if (rule.allOf.every((t) => tags.has(t))) hits.push(rule);

  let worst: (typeof hits)[number] | undefined;
  for (const hit of hits)
    if (
      worst === undefined ||
      rank(hit.severity) > rank(worst.severity) ||
      (rank(hit.severity) === rank(worst.severity) &&
        MODERATION_CATEGORIES.indexOf(hit.category) < MODERATION_CATEGORIES.indexOf(worst.category))
    )
      worst = hit;
  if (worst === undefined) return { allowed: true, category: null, severity: null };
  return {
    allowed: rank(worst.severity) <= clampTolerance(tolerance),
    category: worst.category,
    severity: worst.severity,
  };
}

/**
 * Moderates several texts as one request, e.g. the user's prompt and its upsampled revision (the
 * worker re-moderates what it will actually render): the first refusal wins, otherwise the result
 * with the worst sub-threshold match.
 */
export function moderatePrompts(prompts: readonly string[], tolerance: number): ModerationResult {
  let result: ModerationResult = { allowed: true, category: null, severity: null };
  for (const prompt of prompts) {
    const r = moderatePrompt(prompt, tolerance);
    if (!r.allowed) return r;
    if (r.severity !== null && (result.severity === null || rank(r.severity) > rank(result.severity)))
      result = r;
  }
  return result;
}

const WHAT_TO_CHANGE: Record<ModerationCategory, string> = {
  violence: 'remove the violent or gory detail',
  adult: 'remove the sexual or nudity detail',
  hate: 'remove the hateful symbol or slur',
  illegal: '',
  harmful: 'remove the self-harm, drug or weapon-making detail',
};

/**
 * The user-facing refusal text. It names the category and what to change and never repeats the
 * matched words. Illegal content cannot be unlocked, so its message does not mention safety_tolerance.
 */
export function refusalMessage(category: ModerationCategory): string {
  const head = `The prompt was refused by the content policy (category: ${category})`;
  if (category === 'illegal')
    return `${head}. This content is refused at every safety_tolerance; describe a different scene.`;
  return `${head}. Rephrase it to ${WHAT_TO_CHANGE[category]}, or raise safety_tolerance (0-6) if your application allows it.`;
}
