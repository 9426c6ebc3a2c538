import { asRecord, asString, asStringArray, PromptDataError, readPackageJson } from './data.js';
import {
  MAX_TOLERANCE,
  MODERATION_CATEGORIES,
  type ModerationCategory,
  type Severity,
} from './moderation-policy.js';
import { normalizeText, rawTokens } from './normalize.js';

/** One lexicon term (or, with null category and severity, a context or safe phrase). */
export interface Entry {
  category: ModerationCategory | null;
  severity: Severity | null;
  tags: readonly string[];
  /** The entry does not count when any of these tags occurs in the prompt (a swastika in a Hindu temple). */
  unless: readonly string[];
  words: readonly string[];
  /** Accepted forms of the last word (inflections unless the entry is exact). */
  last: ReadonlySet<string>;
}

/** A combination rule: every tag in `allOf` present gives the category and severity. */
export interface Rule {
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

/** Lexicon entries indexed for token-by-token matching. */
export class Index {
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
      unless: r.unless === undefined ? [] : asStringArray(r.unless, `${where}.unless`),
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

/** The compiled moderation lexicon: terms and context entries, safe phrases, combination rules. */
export const LEXICON = compile();
