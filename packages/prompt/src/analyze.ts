import { Claims } from './analyze-claims.js';
import { PROMPT_PARTS, type DetailedAnalysis, type PromptAnalysis, type Span } from './analyze-parts.js';
import {
  actionPass,
  headPass,
  phrasePass,
  settingPass,
  styleReferencePass,
  subjectPass,
} from './analyze-passes.js';
import { splitWords, type Word } from './words.js';

export {
  PROMPT_PARTS,
  type DetailedAnalysis,
  type PromptAnalysis,
  type PromptPart,
  type Span,
} from './analyze-parts.js';
export { LEXICON, phraseVariants } from './analyze-lexicon.js';

/** Adjacent spans of one part in one clause become one phrase: "cyberpunk" + "style". */
function mergeSpans(words: Word[], spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged.at(-1);
    if (last?.part === span.part && last.end + 1 === span.start && !words[span.start]!.breakBefore)
      last.end = span.end;
    else merged.push({ ...span });
  }
  return merged;
}

/** Analysis with word positions, for lint and upsampling. */
export function analyzeDetailed(prompt: string): DetailedAnalysis {
  const words = splitWords(prompt);
  const claims = new Claims(words);
  styleReferencePass(claims);
  phrasePass(claims);
  headPass(claims);
  actionPass(claims);
  settingPass(claims);
  subjectPass(claims);
  const spans = mergeSpans(words, claims.spans);
  const analysis: PromptAnalysis = {
    subject: [],
    action: [],
    setting: [],
    style: [],
    mood: [],
    lighting: [],
    composition: [],
    technical: [],
    missing: [],
  };
  for (const span of spans)
    analysis[span.part].push(prompt.slice(words[span.start]!.start, words[span.end]!.end));
  analysis.missing = PROMPT_PARTS.filter((part) => analysis[part].length === 0);
  return { words, spans, analysis };
}

/**
 * Splits a prompt into the vendor's template parts using the curated lexicons in
 * data/analysis-lexicon.json. Total: any string gives an analysis (an empty prompt misses every part).
 */
export function analyzePrompt(prompt: string): PromptAnalysis {
  return analyzeDetailed(prompt).analysis;
}
