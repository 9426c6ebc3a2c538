import { asRecord, asString, readPackageJson } from './data.js';

/**
 * Text normalization for moderation. Every step defeats one cheap evasion; each is linear in the
 * input (single passes and regexes without nested quantifiers), so a 2000-character prompt costs
 * well under a millisecond whatever it contains.
 *
 *  1. lone surrogates and control characters → space; format characters (zero-width space/joiner,
 *     soft hyphen, bidi marks) removed
 *  2. NFKC: fullwidth letters, ligatures, mathematical alphanumerics, circled letters → plain
 *  3. NFD and combining marks removed: diacritics (ñ → n, nüde → nude)
 *  4. lowercase, then the curated confusables map (data/confusables.json): Cyrillic/Greek look-alikes
 *     and small capitals → Latin
 *  5. tokens: runs of letters, digits and the leet symbols @ $ !; apostrophes are dropped inside words
 *  6. per token, forms: leetspeak mapped (0→o 1→i|l 3→e 4→a 5→s 7→t @→a $→s !→i; all-digit tokens
 *     such as years stay as written and are never collapsed), trailing ! dropped, runs of 3+ equal
 *     letters collapsed to 1 or 2
 *  7. runs of 3+ single-character tokens ("n u d e", "n.u.d.e", "g*o*r*e") are joined into one token
 */

const CONFUSABLES = new Map<string, string>();
{
  const file = 'data/confusables.json';
  const raw = asRecord(readPackageJson(file), file);
  for (const [script, table] of Object.entries(raw))
    for (const [from, to] of Object.entries(asRecord(table, `${file} ${script}`)))
      CONFUSABLES.set(from, asString(to, `${file} ${script}.${from}`));
}

const LEET: Readonly<Record<string, readonly string[]>> = {
  '0': ['o'],
  '1': ['i', 'l'],
  '3': ['e'],
  '4': ['a'],
  '5': ['s'],
  '7': ['t'],
  '@': ['a'],
  $: ['s'],
  '!': ['i'],
};
/** The two leet readings of one character (primary and alternate); other characters map to themselves. */
export function leetChar(ch: string): [string, string] {
  const options = LEET[ch];
  return options === undefined ? [ch, ch] : [options[0]!, options[options.length - 1]!];
}

/** Above this many ambiguous characters a token gets only the all-i and all-l readings. */
const MAX_AMBIGUOUS = 3;
/** Forms kept per token; bounds the work per token whatever the input. */
const MAX_FORMS = 16;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const CONTROL = /\p{Cc}/gu;
const FORMAT = /\p{Cf}/gu;
const MARKS = /\p{M}/gu;
const WORD_CHAR = /[\p{L}\p{N}@$!]/u;
const APOSTROPHES = new Set(["'", '’', 'ʼ', '`', '´']);
const WHITESPACE = /\s/u;

/**
 * The longest prompt, in characters after NFKC, that the API moderates: twice MAX_PROMPT_CHARS. NFKC
 * expands some characters up to eighteen-fold (U+FDFA), and moderation's cost follows the expanded
 * length (2,000 × U+FDFA took 42 ms, blocking the event loop; issue 17), so it is bounded here rather
 * than truncated, which would let words past the bound through.
 */
export const MAX_NORMALIZED_CHARS = 4000;

/**
 * What moderation itself accepts per text: twice the API's bound, room for a revision of a prompt at
 * that bound (the rules add a few dozen words; an LLM's answer is capped at MAX_PROMPT_CHARS).
 */
const MAX_MODERATED_CHARS = 2 * MAX_NORMALIZED_CHARS;

/** A text whose NFKC form is past what moderation accepts: it is refused, never moderated in part. */
export class PromptTooLongError extends Error {
  override name = 'PromptTooLongError';
  constructor(
    /** Characters after NFKC. */
    readonly normalizedChars: number,
    readonly limit: number,
  ) {
    super(`the text is ${normalizedChars} characters after Unicode normalization (NFKC); at most ${limit}`);
  }
}

/**
 * Why a prompt is refused before moderation, or null: its NFKC form is longer than
 * MAX_NORMALIZED_CHARS. Costs one NFKC pass (about 1 ms for 2,000 × U+FDFA).
 */
export function promptLengthRefusal(prompt: string): string | null {
  const chars = prompt.normalize('NFKC').length;
  return chars <= MAX_NORMALIZED_CHARS
    ? null
    : `prompt is ${chars} characters after Unicode normalization (NFKC); it may be at most ${MAX_NORMALIZED_CHARS}`;
}

/**
 * Steps 1–4: the text as one lowercase string of plain letters. Throws PromptTooLongError when the NFKC
 * form is longer than twice MAX_NORMALIZED_CHARS.
 */
export function normalizeText(text: string): string {
  const compatible = text.replace(LONE_SURROGATE, ' ').replace(CONTROL, ' ').normalize('NFKC');
  if (compatible.length > MAX_MODERATED_CHARS) {
    throw new PromptTooLongError(compatible.length, MAX_MODERATED_CHARS);
  }
  const plain = compatible.replace(FORMAT, '').normalize('NFD').replace(MARKS, '').toLowerCase();
  let out = '';
  for (const ch of plain) out += CONFUSABLES.get(ch) ?? ch;
  return out;
}

/** A token as written (after steps 1–4) and the whitespace-separated chunk it came from. */
export interface RawToken {
  text: string;
  chunk: number;
}

/** Step 5. Apostrophes vanish ("don't" → "dont"); other punctuation and spaces separate tokens. */
export function rawTokens(normalized: string): RawToken[] {
  const tokens: RawToken[] = [];
  let current = '';
  let chunk = 0;
  const flush = (): void => {
    if (current !== '') tokens.push({ text: current, chunk });
    current = '';
  };
  for (const ch of normalized) {
    if (WORD_CHAR.test(ch)) current += ch;
    else if (APOSTROPHES.has(ch)) continue;
    else {
      flush();
      if (WHITESPACE.test(ch)) chunk += 1;
    }
  }
  flush();
  return tokens;
}

/** Collapses runs of 3+ equal characters to `keep` characters ("nuuude" → "nude" or "nuude"). */
function collapse(text: string, keep: number): string {
  const chars = Array.from(text);
  let out = '';
  let i = 0;
  while (i < chars.length) {
    let j = i;
    while (j < chars.length && chars[j] === chars[i]) j += 1;
    out += chars[i]!.repeat(j - i >= 3 ? keep : j - i);
    i = j;
  }
  return out;
}

function leetReadings(text: string): string[] {
  const ambiguous = Array.from(text).filter((c) => (LEET[c]?.length ?? 0) > 1).length;
  const map = (choice: (options: readonly string[], k: number) => string): string => {
    let k = 0;
    let out = '';
    for (const c of text) {
      const options = LEET[c];
      if (options === undefined) out += c;
      else {
        out += choice(options, k);
        if (options.length > 1) k += 1;
      }
    }
    return out;
  };
  if (ambiguous === 0) return [map((o) => o[0]!)];
  if (ambiguous > MAX_AMBIGUOUS) return [map((o) => o[0]!), map((o) => o[o.length - 1]!)];
  const readings: string[] = [];
  for (let mask = 0; mask < 1 << ambiguous; mask++)
    readings.push(map((o, k) => (o.length > 1 ? o[(mask >> k) & 1]! : o[0]!)));
  return readings;
}

/** Step 6: the forms one token is matched under; the first is its primary form. */
export function tokenForms(text: string): string[] {
  const bases = [text];
  const trimmed = text.replace(/!+$/, '');
  if (trimmed !== text && trimmed !== '') bases.unshift(trimmed);
  const forms = new Set<string>();
  for (const base of bases) {
    // Numbers are read as written: no leetspeak, and no collapsing ("14888" is not "1488").
    if (/^\p{N}+$/u.test(base)) {
      forms.add(base);
      continue;
    }
    for (const reading of leetReadings(base)) {
      forms.add(reading);
      forms.add(collapse(reading, 1));
      forms.add(collapse(reading, 2));
    }
    forms.add(base);
    if (forms.size >= MAX_FORMS) break;
  }
  return [...forms].slice(0, MAX_FORMS);
}

/** A token of the moderation stream. */
export interface ModerationToken {
  /** Matching forms; `forms[0]` is the primary one. */
  forms: string[];
  /** Index of the first raw token it covers, and how many (more than 1 for joined runs). */
  start: number;
  length: number;
}

/** Shortest run of single characters that is joined into a word. */
export const MIN_JOINED_RUN = 3;

const isSingle = (t: RawToken | undefined): boolean => t !== undefined && Array.from(t.text).length === 1;

/** Steps 1–7: the token stream the lexicon is matched against. */
export function moderationTokens(text: string): { raw: RawToken[]; tokens: ModerationToken[] } {
  const raw = rawTokens(normalizeText(text));
  const tokens: ModerationToken[] = [];
  let i = 0;
  while (i < raw.length) {
    let j = i;
    while (isSingle(raw[j])) j += 1;
    if (j - i >= MIN_JOINED_RUN) {
      const joined = raw
        .slice(i, j)
        .map((t) => t.text)
        .join('');
      tokens.push({ forms: tokenForms(joined), start: i, length: j - i });
      i = j;
      continue;
    }
    tokens.push({ forms: tokenForms(raw[i]!.text), start: i, length: 1 });
    i += 1;
  }
  return { raw, tokens };
}

/**
 * The normalized token list a prompt is moderated on: each token's primary form (leet mapped,
 * repeated letters collapsed, single-character runs joined). Exported for tests and debugging;
 * matching also tries each token's other forms.
 */
export function normalizeForModeration(text: string): string[] {
  return moderationTokens(text).tokens.map((t) => t.forms[0]!);
}
