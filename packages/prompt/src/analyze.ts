import { asRecord, asStringArray, readPackageJson } from './data.js';
import { singulars, splitWords, type Word } from './words.js';

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

interface Phrase {
  part: PromptPart;
  tokens: string[];
}

/** Tie-break when two parts list a phrase of the same length: the more specific part wins. */
const PRIORITY: PromptPart[] = ['technical', 'lighting', 'composition', 'style', 'mood', 'action', 'setting'];

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

const PHRASES = buildIndex();

const STYLE_REFERENCE_OPENERS = new Set(['like']);
const TECHNICAL_PATTERNS = [/^\d{1,2}k$/, /^\d{2,3}mm$/, /^\d{3,4}p$/, /^f\/\d/];

class Claims {
  private readonly owner: (PromptPart | null)[];
  readonly spans: Span[] = [];
  constructor(readonly words: Word[]) {
    this.owner = words.map(() => null);
  }
  free(i: number): boolean {
    return i >= 0 && i < this.words.length && this.owner[i] === null;
  }
  /** True when no clause break separates word i from word i + 1. */
  joined(i: number): boolean {
    const next = this.words[i + 1];
    return next !== undefined && !next.breakBefore;
  }
  claim(part: PromptPart, start: number, end: number): void {
    for (let i = start; i <= end; i++) this.owner[i] = part;
    this.spans.push({ part, start, end });
  }
  /** Walks back from `i` over free words of the same clause that `accept` takes, at most `max` words. */
  extendBack(i: number, max: number, accept: (w: Word) => boolean): number {
    let start = i;
    while (
      start - i > -max &&
      this.free(start - 1) &&
      this.joined(start - 1) &&
      accept(this.words[start - 1]!)
    )
      start -= 1;
    return start;
  }
}

function matchPhrase(claims: Claims, i: number): Phrase | undefined {
  const words = claims.words;
  const candidates = new Set<Phrase>();
  for (const form of singulars(words[i]!.lower)) for (const p of PHRASES.get(form) ?? []) candidates.add(p);
  let best: Phrase | undefined;
  for (const p of candidates) {
    const ok = p.tokens.every((t, k) => {
      const w = words[i + k];
      if (w === undefined || !claims.free(i + k) || (k > 0 && w.breakBefore)) return false;
      return k === p.tokens.length - 1 ? singulars(w.lower).includes(t) : w.lower === t;
    });
    if (!ok) continue;
    if (
      best === undefined ||
      p.tokens.length > best.tokens.length ||
      (p.tokens.length === best.tokens.length && PRIORITY.indexOf(p.part) < PRIORITY.indexOf(best.part))
    )
      best = p;
  }
  return best;
}

const isNoun = (set: Set<string>, w: Word): boolean => singulars(w.lower).some((s) => set.has(s));
const isModifier = (w: Word): boolean =>
  !LEXICON.determiners.has(w.lower) && !LEXICON.prepositions.has(w.lower);

function phrasePass(claims: Claims): void {
  let i = 0;
  while (i < claims.words.length) {
    const p = claims.free(i) ? matchPhrase(claims, i) : undefined;
    if (p === undefined) {
      i += 1;
      continue;
    }
    claims.claim(p.part, i, i + p.tokens.length - 1);
    i += p.tokens.length;
  }
}

function styleReferencePass(claims: Claims): void {
  const words = claims.words;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = words[i + 1];
    if (!claims.free(i) || next === undefined || next.breakBefore) continue;
    const styleOf = w.lower === 'style' && next.lower === 'of';
    const reference = STYLE_REFERENCE_OPENERS.has(w.lower) && /^\p{Lu}/u.test(next.text);
    if (!styleOf && !reference) continue;
    let start = i;
    if (styleOf && words[i - 1]?.lower === 'the' && words[i - 2]?.lower === 'in' && claims.joined(i - 1))
      start = i - 2;
    let end = i + 1;
    while (claims.free(end + 1) && claims.joined(end)) end += 1;
    claims.claim('style', start, end);
  }
}

function headPass(claims: Claims): void {
  const words = claims.words;
  const heads: [Set<string>, PromptPart][] = [
    [LEXICON.lightingHeads, 'lighting'],
    [LEXICON.compositionHeads, 'composition'],
    [LEXICON.styleHeads, 'style'],
  ];
  for (let i = 0; i < words.length; i++) {
    if (!claims.free(i)) continue;
    const w = words[i]!;
    if (TECHNICAL_PATTERNS.some((re) => re.test(w.lower))) {
      claims.claim('technical', i, i);
      continue;
    }
    for (const [set, part] of heads)
      if (set.has(w.lower)) {
        claims.claim(part, claims.extendBack(i, 2, isModifier), i);
        break;
      }
  }
}

function actionPass(claims: Claims): void {
  const words = claims.words;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!claims.free(i) || w.lower.length < 5 || !w.lower.endsWith('ing')) continue;
    if (LEXICON.nonActionIng.has(w.lower)) continue;
    const prev = words[i - 1];
    if (prev !== undefined && !w.breakBefore && LEXICON.determiners.has(prev.lower) && prev.lower !== 'and')
      continue;
    let end = i;
    if (claims.free(i + 1) && claims.joined(i) && words[i + 1]!.lower.endsWith('ly')) end = i + 1;
    claims.claim('action', i, end);
  }
}

function settingPass(claims: Claims): void {
  const words = claims.words;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!claims.free(i) || !isNoun(LEXICON.settingNouns, w)) continue;
    let j = i;
    let preposition = -1;
    while (j - 1 >= 0 && i - j < 4 && claims.free(j - 1) && claims.joined(j - 1)) {
      const prev = words[j - 1]!;
      if (LEXICON.prepositions.has(prev.lower)) {
        preposition = j - 1;
        break;
      }
      if (isNoun(LEXICON.subjectNouns, prev)) break;
      j -= 1;
    }
    if (preposition >= 0) claims.claim('setting', preposition, i);
    else if (!isNoun(LEXICON.subjectNouns, w)) {
      while (j < i && LEXICON.determiners.has(words[j]!.lower)) j += 1;
      claims.claim('setting', j, i);
    }
  }
}

function subjectPass(claims: Claims): void {
  const words = claims.words;
  for (let i = 0; i < words.length; i++) {
    if (!claims.free(i) || !isNoun(LEXICON.subjectNouns, words[i]!)) continue;
    claims.claim('subject', claims.extendBack(i, 4, isModifier), i);
  }
  // "elderly man with white beard": a with-clause right after a subject describes it.
  for (const span of claims.spans.filter((s) => s.part === 'subject')) {
    if (words[span.end + 1]?.lower !== 'with' || !claims.free(span.end + 1) || !claims.joined(span.end))
      continue;
    let end = span.end + 1;
    while (claims.free(end + 1) && claims.joined(end) && isModifier(words[end + 1]!)) end += 1;
    if (end > span.end + 1) claims.claim('subject', span.end + 1, end);
  }
  if (claims.spans.some((s) => s.part === 'subject')) return;
  // No known noun: take the opening words of the first clause, the template's [Subject] slot.
  let start = 0;
  while (claims.free(start) && LEXICON.determiners.has(words[start]!.lower)) start += 1;
  let end = start - 1;
  while (claims.free(end + 1) && isModifier(words[end + 1]!) && (end < start || claims.joined(end))) end += 1;
  if (end >= start) claims.claim('subject', start, end);
}

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
