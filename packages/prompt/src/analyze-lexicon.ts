import type { PromptPart } from './analyze-parts.js';
import { asRecord, asStringArray, readPackageJson } from './data.js';
import { splitWords } from './words.js';

const FILE = 'data/analysis-lexicon.json';
const raw = asRecord(readPackageJson(FILE), FILE);
const list = (key: string): string[] => asStringArray(raw[key], `${FILE} ${key}`);
const set = (key: string): Set<string> => new Set(list(key).map((s) => s.toLowerCase()));

/** The curated word lists, shared with lint. */
export const LEXICON = {
  subjectNouns: set('subjectNouns'),
  settingNouns: set('settingNouns'),
  prepositions: set('prepositions'),
  determiners: set('determiners'),
  nonActionIng: set('nonActionIng'),
  styleHeads: set('styleHeads'),
  lightingHeads: set('lightingHeads'),
  compositionHeads: set('compositionHeads'),
  vague: list('vague'),
  negative: asRecord(raw.negative, `${FILE} negative`),
};

export interface Phrase {
  part: PromptPart;
  tokens: string[];
}

/** Tie-break when two parts list a phrase of the same length: the more specific part wins. */
export const PRIORITY: PromptPart[] = [
  'technical',
  'lighting',
  'composition',
  'style',
  'mood',
  'action',
  'setting',
];

/** A phrase as word tokens, plus its hyphen variants: close-up, close up, closeup. */
export function phraseVariants(phrase: string): string[][] {
  const base = splitWords(phrase).map((w) => w.lower);
  const spaced = base.flatMap((t) => t.split('-'));
  const joined = base.map((t) => t.replaceAll('-', ''));
  const seen = new Map<string, string[]>();
  for (const v of [base, spaced, joined]) if (v.length > 0) seen.set(v.join(' '), v);
  return [...seen.values()];
}

function buildIndex(): Map<string, Phrase[]> {
  const sources: [PromptPart, string][] = [
    ['technical', 'technical'],
    ['lighting', 'lighting'],
    ['composition', 'composition'],
    ['style', 'style'],
    ['mood', 'mood'],
    ['action', 'action'],
    ['setting', 'settingPhrases'],
  ];
  const index = new Map<string, Phrase[]>();
  for (const [part, key] of sources)
    for (const phrase of list(key))
      for (const tokens of phraseVariants(phrase)) {
        const first = tokens[0]!;
        const bucket = index.get(first) ?? [];
        bucket.push({ part, tokens });
        index.set(first, bucket);
      }
  for (const bucket of index.values())
    bucket.sort(
      (a, b) => b.tokens.length - a.tokens.length || PRIORITY.indexOf(a.part) - PRIORITY.indexOf(b.part),
    );
  return index;
}

/** Lexicon phrases (with hyphen variants) by first token, longest and most specific first. */
export const PHRASES = buildIndex();
