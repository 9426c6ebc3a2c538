import type { Claims } from './analyze-claims.js';
import { LEXICON, PHRASES, PRIORITY, type Phrase } from './analyze-lexicon.js';
import type { PromptPart } from './analyze-parts.js';
import { singulars, type Word } from './words.js';

const STYLE_REFERENCE_OPENERS = new Set(['like']);
const TECHNICAL_PATTERNS = [/^\d{1,2}k$/, /^\d{2,3}mm$/, /^\d{3,4}p$/, /^f\/\d/];

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

/** Lexicon phrases (technical, lighting, composition, style, mood, action, setting), longest first. */
export function phrasePass(claims: Claims): void {
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

/** "style of …", "in the style of …" and "like <Capitalized>": style references up to the clause end. */
export function styleReferencePass(claims: Claims): void {
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

/** Technical patterns (4k, 85mm, 1080p, f/1.8) and lighting/composition/style head words with their modifiers. */
export function headPass(claims: Claims): void {
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

/** "-ing" words not after a determiner, with a following "-ly" adverb: the [doing what] part. */
export function actionPass(claims: Claims): void {
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

/** Setting nouns, from a preceding preposition ("in a misty forest") or as a bare noun phrase. */
export function settingPass(claims: Claims): void {
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

/** Subject nouns with their modifiers and a following with-clause; else the opening words of the prompt. */
export function subjectPass(claims: Claims): void {
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
