import { LEXICON, type Entry, type Index } from './moderation-lexicon.js';
import {
  leetChar,
  MIN_JOINED_RUN,
  moderationTokens,
  normalizeText,
  tokenForms,
  type RawToken,
} from './normalize.js';

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
export function findMatches(prompt: string): { entries: Set<Entry>; minorAge: boolean } {
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
