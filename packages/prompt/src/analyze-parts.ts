import type { Word } from './words.js';

/** The parts of the vendor's template: [subject] [doing what] [setting] [style/mood] [technical details]. */
export const PROMPT_PARTS = [
  'subject',
  'action',
  'setting',
  'style',
  'mood',
  'lighting',
  'composition',
  'technical',
] as const;
export type PromptPart = (typeof PROMPT_PARTS)[number];

/**
 * A prompt split into the template parts. Each list holds phrases exactly as written in the prompt
 * (original casing), in prompt order; `missing` lists the parts with no phrase, in PROMPT_PARTS order.
 */
export interface PromptAnalysis {
  subject: string[];
  action: string[];
  setting: string[];
  style: string[];
  mood: string[];
  lighting: string[];
  composition: string[];
  technical: string[];
  missing: PromptPart[];
}

/** A run of words (inclusive indices) assigned to one part. */
export interface Span {
  part: PromptPart;
  start: number;
  end: number;
}

export interface DetailedAnalysis {
  words: Word[];
  spans: Span[];
  analysis: PromptAnalysis;
}
