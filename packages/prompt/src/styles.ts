import { asRecord, asStringArray, readPackageJson } from './data.js';
import { phraseVariants } from './analyze.js';

const FILE = 'data/style-families.json';
const raw = asRecord(readPackageJson(FILE), FILE);
const familiesRaw = asRecord(raw.families, `${FILE} families`);

/** Medium families: styles within one family (or a compatible pair) can be combined in one image. */
export type StyleFamily = string;

const FAMILY_TERMS: [StyleFamily, string[][]][] = Object.entries(familiesRaw).map(([family, terms]) => [
  family,
  asStringArray(terms, `${FILE} families.${family}`).flatMap(phraseVariants),
]);

const COMPATIBLE = new Set(
  (Array.isArray(raw.compatible) ? (raw.compatible as unknown[]) : []).map((pair, i) => {
    const [a, b] = asStringArray(pair, `${FILE} compatible[${i}]`);
    return [a, b].sort().join('+');
  }),
);

function contains(haystack: string[], needle: string[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

/** The medium families named by style phrases, in the order they first appear. */
export function styleFamilies(stylePhrases: readonly string[]): StyleFamily[] {
  const found: StyleFamily[] = [];
  for (const phrase of stylePhrases) {
    const tokens = phraseVariants(phrase).flat();
    for (const [family, terms] of FAMILY_TERMS)
      if (!found.includes(family) && terms.some((t) => contains(tokens, t))) found.push(family);
  }
  return found;
}

/** Pairs of families that a single image cannot honour at once (photorealistic + watercolor). */
export function conflictingFamilies(families: readonly StyleFamily[]): [StyleFamily, StyleFamily][] {
  const out: [StyleFamily, StyleFamily][] = [];
  for (let i = 0; i < families.length; i++)
    for (let j = i + 1; j < families.length; j++) {
      const a = families[i]!;
      const b = families[j]!;
      if (!COMPATIBLE.has([a, b].sort().join('+'))) out.push([a, b]);
    }
  return out;
}
