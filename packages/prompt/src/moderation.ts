import { asRecord, asString, asStringArray, PromptDataError, readPackageJson } from './data.js';
import {
  leetChar,
  MIN_JOINED_RUN,
  moderationTokens,
  normalizeText,
  rawTokens,
  tokenForms,
  type RawToken,
} from './normalize.js';

/** The vendor's moderated categories; child sexual content is `illegal`. */
export const MODERATION_CATEGORIES = ['violence', 'adult', 'hate', 'illegal', 'harmful'] as const;
export type ModerationCategory = (typeof MODERATION_CATEGORIES)[number];

/** 1 (remotely questionable) … 6 (allowed only at tolerance 6), or `illegal` (refused at every tolerance). */
export type Severity = number | 'illegal';

export interface ModerationResult {
  allowed: boolean;
  /**
   * The category and severity of the worst match, or null when nothing matched. An allowed prompt
   * can carry a match below its tolerance (e.g. "gun", severity 1, at tolerance 2).
   */
  category: ModerationCategory | null;
  severity: Severity | null;
}

export const MIN_TOLERANCE = 0;
export const MAX_TOLERANCE = 6;
export const DEFAULT_TOLERANCE = 2;

interface Entry {
  category: ModerationCategory | null;
  severity: Severity | null;
  tags: readonly string[];
  words: readonly string[];
  /** Accepted forms of the last word (inflections unless the entry is exact). */
  last: ReadonlySet<string>;
}

interface Rule {
  allOf: readonly string[];
  category: ModerationCategory;
  severity: Severity;
}

/** Simple English inflections of a lexicon word: s, es, ies/ied, ing, ed (with e-drop and doubling). */
export function inflections(word: string): string[] {
  const out = new Set([word, `${word}s`]);
  if (/(?:s|x|z|ch|sh|o)$/.test(word)) out.add(`${word}es`);
  if (/[^aeiou]y$/.test(word)) {
    out.add(`${word.slice(0, -1)}ies`);
    out.add(`${word.slice(0, -1)}ied`);
  }
  if (word.endsWith('e') && !word.endsWith('ee')) {
    out.add(`${word.slice(0, -1)}ing`);
    out.add(`${word}d`);
  } else {
    out.add(`${word}ing`);
    out.add(`${word}ed`);
  }
  if (/^[^aeiou]*[aeiou][bdgklmnprtv]$/.test(word)) {
    const last = word.charAt(word.length - 1);
    out.add(`${word}${last}ing`);
    out.add(`${word}${last}ed`);
  }
  return [...out];
}

const FILE = 'data/moderation-lexicon.json';

function parseSeverity(value: unknown, where: string): Severity {
  if (value === 'illegal') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_TOLERANCE)
    return value;
  throw new PromptDataError(`${where}: severity must be an integer 1-6 or "illegal"`);
}

function parseCategory(value: unknown, where: string): ModerationCategory {
  const found = MODERATION_CATEGORIES.find((c) => c === value);
  if (found === undefined) throw new PromptDataError(`${where}: unknown category ${String(value)}`);
  return found;
}

function termWords(term: string): string[] {
  return rawTokens(normalizeText(term)).map((t) => t.text);
}

class Index {
  /** Single-word entries and multi-word entries written as one word ("selfharm"), by form. */
  readonly single = new Map<string, Entry[]>();
  /** Multi-word entries by their first word. */
  readonly multi = new Map<string, Entry[]>();
  /** Every prefix of a key of `single`, so a growing window can stop as soon as nothing can match. */
  readonly prefixes = new Set<string>();

  add(entry: Entry): void {
    const push = (map: Map<string, Entry[]>, key: string): void => {
      const bucket = map.get(key) ?? [];
      bucket.push(entry);
      map.set(key, bucket);
      if (map === this.single) for (let n = 1; n <= key.length; n++) this.prefixes.add(key.slice(0, n));
    };
    const head = entry.words.slice(0, -1).join('');
    for (const form of entry.last) push(this.single, `${head}${form}`);
    if (entry.words.length > 1) push(this.multi, entry.words[0]!);
  }
}

function compile(): { terms: Index; safe: Index; rules: Rule[] } {
  const raw = asRecord(readPackageJson(FILE), FILE);
  const terms = new Index();
  const safe = new Index();
  const entry = (value: unknown, where: string, withSeverity: boolean): Entry => {
    const r = asRecord(value, where);
    const words = termWords(asString(r.term, `${where}.term`));
    const lastWord = words.at(-1);
    if (lastWord === undefined) throw new PromptDataError(`${where}: empty term`);
    const category = withSeverity ? parseCategory(r.category, where) : null;
    const severity = withSeverity ? parseSeverity(r.severity, where) : null;
    if (category === 'illegal' && severity !== 'illegal')
      throw new PromptDataError(`${where}: illegal-category entries must have severity "illegal"`);
    return {
      category,
      severity,
      tags: r.tags === undefined ? [] : asStringArray(r.tags, `${where}.tags`),
      words,
      last: new Set(r.exact === true ? [lastWord] : inflections(lastWord)),
    };
  };
  const array = (key: string): unknown[] => {
    const value = raw[key];
    if (!Array.isArray(value)) throw new PromptDataError(`${FILE} ${key} must be an array`);
    return value as unknown[];
  };
  array('entries').forEach((e, i) => terms.add(entry(e, `${FILE} entries[${i}]`, true)));
  array('context').forEach((e, i) => terms.add(entry(e, `${FILE} context[${i}]`, false)));
  asStringArray(raw.safePhrases, `${FILE} safePhrases`).forEach((term, i) =>
    safe.add(entry({ term }, `${FILE} safePhrases[${i}]`, false)),
  );
  const rules = array('rules').map((value, i): Rule => {
    const where = `${FILE} rules[${i}]`;
    const r = asRecord(value, where);
    return {
      allOf: asStringArray(r.allOf, `${where}.allOf`),
      category: parseCategory(r.category, where),
      severity: parseSeverity(r.severity, where),
    };
  });
  return { terms, safe, rules };
}

const LEXICON = compile();

const NUMBER_WORDS = new Map(
  [
    'one',
    'two',
    'three',
    'four',
    'five',
    'six',
    'seven',
    'eight',
    'nine',
    'ten',
    'eleven',
    'twelve',
    'thirteen',
    'fourteen',
    'fifteen',
    'sixteen',
    'seventeen',
  ].map((w, i) => [w, i + 1]),
);
const YEAR_WORDS = new Set(['year', 'years', 'yr', 'yrs']);

/** "12 year old", "12-year-old", "twelve years old", "12yo", "12 y/o": an age under 18 tags `minor`. */
function statesMinorAge(raw: RawToken[]): boolean {
  const age = (text: string | undefined): number =>
    text === undefined ? NaN : /^\d{1,2}$/.test(text) ? Number(text) : (NUMBER_WORDS.get(text) ?? NaN);
  const under18 = (n: number): boolean => n >= 1 && n < 18;
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]!.text;
    const compact = /^(\d{1,2})(?:yo|yrs?old|yearsold|yearold)$/.exec(t);
    if (compact && under18(Number(compact[1]))) return true;
    if (!under18(age(t))) continue;
    const next = raw[i + 1]?.text;
    if (next === 'yo' || (next === 'y' && raw[i + 2]?.text === 'o')) return true;
    if (next !== undefined && YEAR_WORDS.has(next) && raw[i + 2]?.text === 'old') return true;
  }
  return false;
}

/** Every entry that matches the prompt, after safe phrases mask their tokens. */
function findMatches(prompt: string): { entries: Set<Entry>; minorAge: boolean } {
  const { raw, tokens } = moderationTokens(prompt);
  const masked = tokens.map(() => false);
  const entries = new Set<Entry>();

  const sequenceAt = (index: Index, i: number, onMatch: (e: Entry, length: number) => void): void => {
    for (const form of tokens[i]!.forms) {
      for (const e of index.single.get(form) ?? []) onMatch(e, 1);
      for (const e of index.multi.get(form) ?? []) {
        const ok = e.words.every((word, k) => {
          if (k === 0) return true;
          const token = tokens[i + k];
          if (token === undefined || masked[i + k] === true) return false;
          return k === e.words.length - 1
            ? token.forms.some((f) => e.last.has(f))
            : token.forms.includes(word);
        });
        if (ok) onMatch(e, e.words.length);
      }
    }
  };

  for (let i = 0; i < tokens.length; i++)
    sequenceAt(LEXICON.safe, i, (e, length) => {
      if (length > 1) for (let k = 0; k < length; k++) masked[i + k] = true;
    });
  for (let i = 0; i < tokens.length; i++) if (!masked[i]) sequenceAt(LEXICON.terms, i, (e) => entries.add(e));

  const lookupWord = (forms: Iterable<string>): void => {
    for (const form of forms) for (const e of LEXICON.terms.single.get(form) ?? []) entries.add(e);
  };
  // Evasions that span several raw tokens: "a n u d e" (a word inside a longer run of single
  // characters) and "nu.de" / "se-x" (one whitespace-separated chunk split by punctuation).
  // Windows grow one character at a time and stop once no lexicon word starts with them, so a run
  // of n characters costs about n map lookups (well under 1 ms for 1000 spaced letters).
  const prefixes = LEXICON.terms.prefixes;
  for (const token of tokens) {
    if (token.length <= MIN_JOINED_RUN) continue;
    const chars = raw.slice(token.start, token.start + token.length).map((t) => leetChar(t.text));
    for (let s = 0; s < chars.length; s++) {
      let primary: string | null = '';
      let alternate: string | null = '';
      for (let n = s; n < chars.length; n++) {
        const [p, a] = chars[n]!;
        primary = primary !== null && prefixes.has(primary + p) ? primary + p : null;
        alternate = alternate !== null && prefixes.has(alternate + a) ? alternate + a : null;
        if (primary === null && alternate === null) break;
        if (n - s + 1 >= MIN_JOINED_RUN) lookupWord([primary ?? '', alternate ?? '']);
      }
    }
  }
  let chunkStart = 0;
  for (let i = 1; i <= raw.length; i++) {
    if (i < raw.length && raw[i]!.chunk === raw[chunkStart]!.chunk) continue;
    if (i - chunkStart > 1 && i - chunkStart <= 8)
      lookupWord(
        tokenForms(
          raw
            .slice(chunkStart, i)
            .map((t) => t.text)
            .join(''),
        ),
      );
    chunkStart = i;
  }
  for (const chunk of normalizeText(prompt).split(/\s+/)) lookupMasked(chunk, (key) => lookupWord([key]));
  return { entries, minorAge: statesMinorAge(raw) };
}

const MASK = /[*#_]/u;
const MASKED_WORD = /^[\p{L}\p{N}@$!*#_]{3,24}$/u;
const EDGE = /^[^\p{L}\p{N}@$]+|[^\p{L}\p{N}@$]+$/gu;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/**
 * Masked letters: in a whitespace-separated chunk such as "f*ck", "s*x" or "n#de", each `*`, `#` or
 * `_` between word characters stands for one letter (at most 3 masks per chunk). Candidates grow
 * through the lexicon's prefixes, so the work is bounded by the lexicon, not by 26^n.
 */
function lookupMasked(chunk: string, onKey: (key: string) => void): void {
  const word = chunk.replace(EDGE, '');
  if (!MASK.test(word) || !MASKED_WORD.test(word)) return;
  const chars = Array.from(word);
  if (chars.filter((c) => MASK.test(c)).length > 3) return;
  const prefixes = LEXICON.terms.prefixes;
  const grow = (k: number, sofar: string): void => {
    if (k === chars.length) {
      if (LEXICON.terms.single.has(sofar)) onKey(sofar);
      return;
    }
    const ch = chars[k]!;
    const options = MASK.test(ch) ? LETTERS : [...new Set(leetChar(ch))].join('');
    for (const option of options) if (prefixes.has(sofar + option)) grow(k + 1, sofar + option);
  };
  grow(0, '');
}

const rank = (severity: Severity): number => (severity === 'illegal' ? MAX_TOLERANCE + 1 : severity);

/** Clamps to an integer 0–6; a non-number becomes 0, the strictest level (fail closed). */
export function clampTolerance(tolerance: number): number {
  if (!Number.isFinite(tolerance)) return MIN_TOLERANCE;
  return Math.min(MAX_TOLERANCE, Math.max(MIN_TOLERANCE, Math.floor(tolerance)));
}

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
  for (const e of entries) {
    for (const tag of e.tags) tags.add(tag);
    if (e.category !== null && e.severity !== null) hits.push({ category: e.category, severity: e.severity });
  }
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
