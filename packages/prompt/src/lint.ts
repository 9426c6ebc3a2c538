import { analyzeDetailed, LEXICON, phraseVariants, type PromptAnalysis } from './analyze.js';
import { asStringArray } from './data.js';
import { conflictingFamilies, styleFamilies } from './styles.js';
import { splitWords, type Word } from './words.js';

/** An advisory note a client can show next to the prompt; lint never blocks a request. */
export interface PromptWarning {
  /** Stable machine code, one of LINT_CODES. */
  code: string;
  /** What to change, for a person. */
  message: string;
}

export const LINT_CODES = [
  'vague_description',
  'conflicting_styles',
  'too_many_subjects',
  'negative_instruction',
  'too_short',
  'too_long',
] as const;
export type LintCode = (typeof LINT_CODES)[number];

/**
 * The vendor's sweet spot is 50–200 characters; we warn only well outside it (half the lower bound,
 * twice the upper) so that ordinary short prompts such as "three colorful hot air balloons" pass.
 */
export const SHORT_PROMPT_CHARS = 25;
export const LONG_PROMPT_CHARS = 400;
/** More distinct subjects than this compete for the frame (the vendor's "too many subjects"). */
export const MAX_SUBJECTS = 3;

const VAGUE = LEXICON.vague.flatMap(phraseVariants);
const NEGATIVE_SINGLE = new Set(asStringArray(LEXICON.negative.single, 'negative.single'));
const NEGATIVE_PREFIXES = asStringArray(LEXICON.negative.verbPrefixed, 'negative.verbPrefixed').map((p) =>
  splitWords(p).map((w) => w.lower),
);

const quote = (words: Word[], prompt: string, start: number, end: number): string =>
  prompt.slice(words[start]!.start, words[Math.min(end, words.length - 1)]!.end);

function findSequence(words: Word[], tokens: string[]): number {
  outer: for (let i = 0; i + tokens.length <= words.length; i++) {
    for (let k = 0; k < tokens.length; k++) {
      const w = words[i + k]!;
      if (w.lower !== tokens[k] || (k > 0 && w.breakBefore)) continue outer;
    }
    return i;
  }
  return -1;
}

function vague(words: Word[], prompt: string): PromptWarning | undefined {
  for (const tokens of VAGUE) {
    const at = findSequence(words, tokens);
    if (at < 0) continue;
    const phrase = quote(words, prompt, at, at + tokens.length - 1);
    return {
      code: 'vague_description',
      message: `"${phrase}" does not tell the model what to draw; name the subject, setting, style and lighting instead (for example "tabby cat asleep on a windowsill, soft morning light").`,
    };
  }
  return undefined;
}

/** The first negative instruction: "no cars", "without people", "don't show text". */
function negative(words: Word[], prompt: string): PromptWarning | undefined {
  for (let i = 0; i < words.length; i++) {
    const next = (k: number): boolean => i + k < words.length && !words[i + k]!.breakBefore;
    let end = -1;
    if (NEGATIVE_SINGLE.has(words[i]!.lower) && next(1)) end = i + 1;
    else
      for (const prefix of NEGATIVE_PREFIXES)
        if (prefix.every((t, k) => words[i + k]?.lower === t && (k === 0 || next(k))) && next(prefix.length))
          end = i + prefix.length;
    if (end < 0) continue;
    const phrase = quote(words, prompt, i, end);
    return {
      code: 'negative_instruction',
      message: `"${phrase}" is a negative instruction; image models tend to draw what is named, so describe what should be there instead (for example "an empty street" rather than "no cars").`,
    };
  }
  return undefined;
}

/**
 * Advisory warnings that follow the vendor's Don'ts, at most one per code, in LINT_CODES order.
 * Pass the analysis when you already have it to avoid a second pass.
 */
export function lintPrompt(prompt: string, analysis?: PromptAnalysis): PromptWarning[] {
  const detailed = analysis === undefined ? analyzeDetailed(prompt) : undefined;
  const parts = analysis ?? detailed!.analysis;
  const words = detailed?.words ?? splitWords(prompt);
  const warnings: PromptWarning[] = [];

  const vagueWarning = vague(words, prompt);
  if (vagueWarning) warnings.push(vagueWarning);

  const conflicts = conflictingFamilies(styleFamilies(parts.style));
  if (conflicts.length > 0)
    warnings.push({
      code: 'conflicting_styles',
      message: `The prompt mixes styles that cannot be combined in one image (${parts.style.map((s) => `"${s}"`).join(', ')}); keep one medium, for example either a photograph or a watercolor.`,
    });

  const subjects = new Set(parts.subject.map((s) => s.toLowerCase()));
  if (subjects.size > MAX_SUBJECTS)
    warnings.push({
      code: 'too_many_subjects',
      message: `The prompt names ${subjects.size} subjects; pick one to three main subjects and describe them in more detail.`,
    });

  const negativeWarning = negative(words, prompt);
  if (negativeWarning) warnings.push(negativeWarning);

  const length = prompt.trim().length;
  if (length < SHORT_PROMPT_CHARS)
    warnings.push({
      code: 'too_short',
      message: `The prompt is ${length} characters; 50–200 works best. Add a setting, style, lighting or composition, or turn on prompt_upsampling.`,
    });
  else if (length > LONG_PROMPT_CHARS)
    warnings.push({
      code: 'too_long',
      message: `The prompt is ${length} characters; 50–200 works best. Keep the subject and the most important details and drop repetition.`,
    });
  return warnings;
}
