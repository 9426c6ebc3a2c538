import { analyzeDetailed, type Span } from './analyze.js';
import { asRecord, asStringArray, readPackageJson } from './data.js';
import { pick, seededRandom } from './prng.js';
import { styleFamilies } from './styles.js';
import { singulars, type Word } from './words.js';

/** The vendor's prompt limit; upsampling never grows a prompt past it. */
export const MAX_PROMPT_CHARS = 2000;

interface Modifiers {
  medium: string[];
  lighting: string[];
  composition: string[];
  quality: string[];
  technical: string[];
}

interface SubjectDetail {
  adjectives: string[];
  details: string[];
  lighting: string[];
}

function loadModifiers(): Map<string, Modifiers> {
  const file = 'data/upsampling.json';
  const raw = asRecord(readPackageJson(file), file);
  const out = new Map<string, Modifiers>();
  for (const [family, value] of Object.entries(raw)) {
    const r = asRecord(value, `${file} ${family}`);
    const field = (k: keyof Modifiers): string[] => asStringArray(r[k], `${file} ${family}.${k}`);
    out.set(family, {
      medium: field('medium'),
      lighting: field('lighting'),
      composition: field('composition'),
      quality: field('quality'),
      technical: field('technical'),
    });
  }
  if (!out.has('photo') || !out.has('neutral')) throw new Error(`${file} needs "photo" and "neutral"`);
  return out;
}

function loadSubjects(): Map<string, SubjectDetail> {
  const file = 'data/subject-details.json';
  const raw = asRecord(readPackageJson(file), file);
  const out = new Map<string, SubjectDetail>();
  for (const [name, value] of Object.entries(raw)) {
    const r = asRecord(value, `${file} ${name}`);
    const detail: SubjectDetail = {
      adjectives: asStringArray(r.adjectives, `${file} ${name}.adjectives`),
      details: asStringArray(r.details, `${file} ${name}.details`),
      lighting: asStringArray(r.lighting, `${file} ${name}.lighting`),
    };
    for (const key of [name, ...asStringArray(r.aliases, `${file} ${name}.aliases`)])
      if (!out.has(key)) out.set(key, detail);
  }
  return out;
}

const MODIFIERS = loadModifiers();
const SUBJECTS = loadSubjects();
/** Number of subjects with enrichment phrases (tests and README). */
export const SUBJECT_TABLE_SIZE = new Set(SUBJECTS.values()).size;

/** Parts whose absence upsampling repairs; a prompt with all four is left as written. */
const REPAIRED = ['style', 'lighting', 'composition', 'technical'] as const;
/** Subject details are added only to short prompts that do not already describe the subject. */
const DETAIL_MAX_WORDS = 12;

function findSubject(words: Word[], spans: Span[]): { span: Span; detail: SubjectDetail } | undefined {
  for (const span of spans) {
    if (span.part !== 'subject') continue;
    for (let i = span.start; i <= span.end; i++)
      for (const form of singulars(words[i]!.lower)) {
        const detail = SUBJECTS.get(form);
        if (detail) return { span, detail };
      }
  }
  return undefined;
}

/**
 * The rule-based upsampler: fills the template parts the analysis found missing (lighting,
 * composition, quality/technical terms, a medium) with modifiers of the prompt's own style family, and
 * enriches known subjects from data/subject-details.json. Pure and deterministic for (prompt, seed).
 *
 * The user's text is kept verbatim and in order: the result is the prompt, optionally with one
 * adjective before a leading lowercase subject, followed by additions. A prompt that already names a
 * style, lighting, composition and technical details is returned unchanged, as is one at the limit.
 */
export function upsamplePrompt(prompt: string, seed: number): string {
  const base = prompt.trim();
  if (base.length === 0 || base.length >= MAX_PROMPT_CHARS) return prompt;
  const { words, spans, analysis } = analyzeDetailed(base);
  const missing = new Set(analysis.missing);
  if (REPAIRED.every((part) => !missing.has(part))) return prompt;

  const family = styleFamilies(analysis.style)[0] ?? (analysis.style.length > 0 ? 'neutral' : 'photo');
  const mods = MODIFIERS.get(family) ?? MODIFIERS.get('neutral')!;
  const subject = findSubject(words, spans);
  const random = seededRandom(base, seed);
  // Every pick draws once, used or not, so one choice never shifts the others.
  const adjective = pick(subject?.detail.adjectives ?? [], random);
  const detail = pick(subject?.detail.details ?? [], random);
  const lighting = pick(family === 'photo' && subject ? subject.detail.lighting : mods.lighting, random);
  const composition = pick(mods.composition, random);
  const quality = pick(mods.quality, random);
  const medium = pick(mods.medium, random);
  const technical = pick(mods.technical, random);

  let text = base;
  const lower = base.toLowerCase();
  if (
    adjective !== undefined &&
    subject?.span.start === 0 &&
    analysis.mood.length === 0 &&
    /^\p{Ll}/u.test(base) &&
    !lower.includes(adjective)
  )
    text = `${adjective} ${text}`;
  const additions: string[] = [];
  // "<subject> with <detail>" only reads well when the prompt ends on the subject, in one clause.
  if (
    detail !== undefined &&
    subject?.span.end === words.length - 1 &&
    words.length <= DETAIL_MAX_WORDS &&
    words.every((w) => !w.breakBefore && w.lower !== 'with') &&
    /[\p{L}\p{N}]$/u.test(base)
  )
    text = `${text} with ${detail}`;
  if (missing.has('lighting') && lighting !== undefined) additions.push(lighting);
  if (missing.has('composition') && composition !== undefined) additions.push(composition);
  if (missing.has('technical') && quality !== undefined) additions.push(quality);
  if (missing.has('style') && medium !== undefined) additions.push(medium);
  if (missing.has('technical') && technical !== undefined) additions.push(technical);

  for (const addition of additions) {
    if (lower.includes(addition.toLowerCase())) continue;
    const next = `${text}${/[,;:.!?]$/.test(text) ? ' ' : ', '}${addition}`;
    if (next.length > MAX_PROMPT_CHARS) break;
    text = next;
  }
  return text.length > MAX_PROMPT_CHARS ? base : text;
}
