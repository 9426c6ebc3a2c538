/** A word of a prompt with its position, for analysis and lint (not moderation: see normalize.ts). */
export interface Word {
  /** The word as written. */
  readonly text: string;
  /** Lowercased, typographic apostrophes made straight. */
  readonly lower: string;
  /** UTF-16 offsets into the prompt: `prompt.slice(start, end) === text`. */
  readonly start: number;
  readonly end: number;
  /** A clause break (`,` `;` `:` `.` `!` `?` brackets, newline) sits between this word and the previous. */
  readonly breakBefore: boolean;
}

const WORD_CHAR = /[\p{L}\p{N}]/u;
/** Characters that stay inside a word when a word character follows: close-up, bird's, f/1.8. */
const JOINERS = new Set(['-', "'", '’', '/', '.']);
const BREAKS = new Set([',', ';', ':', '.', '!', '?', '(', ')', '[', ']', '\n', '|']);

/**
 * Splits text into words in one left-to-right pass over code points (no regex over the whole input,
 * so the cost is linear in the length whatever the input).
 */
export function splitWords(text: string): Word[] {
  const words: Word[] = [];
  const chars = Array.from(text);
  let offset = 0;
  let pendingBreak = false;
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i]!;
    if (!WORD_CHAR.test(ch)) {
      if (BREAKS.has(ch)) pendingBreak = true;
      offset += ch.length;
      i += 1;
      continue;
    }
    const start = offset;
    let end = offset;
    while (i < chars.length) {
      const c = chars[i]!;
      if (WORD_CHAR.test(c)) {
        end += c.length;
        i += 1;
      } else if (JOINERS.has(c) && i + 1 < chars.length && WORD_CHAR.test(chars[i + 1]!)) {
        end += c.length;
        i += 1;
      } else break;
    }
    const word = text.slice(start, end);
    words.push({
      text: word,
      lower: word.toLowerCase().replaceAll('’', "'"),
      start,
      end,
      breakBefore: pendingBreak && words.length > 0,
    });
    pendingBreak = false;
    offset = end;
  }
  return words;
}

/** The forms a lexicon noun may take in a prompt: itself and its simple plurals. */
export function singulars(word: string): string[] {
  const out = [word];
  if (word.endsWith('ies') && word.length > 4) out.push(`${word.slice(0, -3)}y`);
  if (word.endsWith('es') && word.length > 3) out.push(word.slice(0, -2));
  if (word.endsWith('s') && word.length > 2) out.push(word.slice(0, -1));
  return out;
}
