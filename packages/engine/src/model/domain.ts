import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A tokenizer this small is a closed vocabulary (CLIP's has 49,408 entries; the bundled model's 650). */
const CLOSED_VOCABULARY_MAX = 10_000;

/**
 * What a model directory says about what it can draw: imagegen.json's `description`, and for a closed
 * vocabulary the whole-word tokens of its (first) tokenizer, lower case — the words it was trained on.
 */
export function readModelDomain(modelDir: string): {
  description: string | null;
  vocabulary: string[] | null;
} {
  const extras = join(modelDir, 'imagegen.json');
  const json = existsSync(extras)
    ? (JSON.parse(readFileSync(extras, 'utf8')) as Record<string, unknown>)
    : {};
  const description = typeof json['description'] === 'string' ? json['description'] : null;
  const vocabFile = join(modelDir, 'tokenizer', 'vocab.json');
  if (!existsSync(vocabFile)) return { description, vocabulary: null };
  const tokens = Object.keys(JSON.parse(readFileSync(vocabFile, 'utf8')) as Record<string, number>);
  if (tokens.length > CLOSED_VOCABULARY_MAX) return { description, vocabulary: null };
  // CLIP marks a word's last token with </w>: a whole-word token is a word the tokenizer learned whole.
  const words = tokens
    .filter((t) => t.endsWith('</w>') && /^\p{L}{2,}$/u.test(t.slice(0, -4)))
    .map((t) => t.slice(0, -4).toLowerCase());
  return { description, vocabulary: [...new Set(words)].sort() };
}
