import type { PromptWarning } from './lint.js';

/** A model's closed vocabulary, as workers register it (see contracts' ModelInfo). */
export interface ModelDomain {
  name: string;
  description: string | null;
  /** Lower-case whole words, or null for an open vocabulary. */
  vocabulary: readonly string[] | null;
}

/** Words that carry no content: they neither count for nor against a prompt fitting a model. */
const FUNCTION_WORDS = new Set(
  'a an the of in on at to with and or by for from into onto over under near its it is are this that very'.split(
    ' ',
  ),
);

const contentWords = (prompt: string) =>
  (prompt.toLowerCase().match(/\p{L}[\p{L}'-]*/gu) ?? []).filter((w) => !FUNCTION_WORDS.has(w));

/**
 * `outside_model_domain` when every model that serves the queue has a closed vocabulary and most of the
 * prompt's content words are outside all of them — the picture will not show what was asked (the bundled
 * shapes model draws an abstract blob for "a golden retriever puppy"). Null when any model has an open
 * vocabulary, or when no model has registered yet.
 */
export function domainWarning(prompt: string, models: readonly ModelDomain[]): PromptWarning | null {
  if (models.length === 0 || models.some((m) => m.vocabulary === null)) return null;
  const known = new Set(models.flatMap((m) => m.vocabulary ?? []));
  const words = contentWords(prompt);
  const unknown = [...new Set(words.filter((w) => !known.has(w) && !known.has(w.replace(/s$/, ''))))];
  if (unknown.length === 0 || unknown.length * 2 <= new Set(words).size) return null;
  const what = models.map((m) => (m.description ? `${m.name}: ${m.description}` : m.name)).join('; ');
  return {
    code: 'outside_model_domain',
    message: `most of this prompt is outside what the configured model can draw (${what}), so the picture will not show ${unknown
      .slice(0, 3)
      .map((w) => `"${w}"`)
      .join(
        ', ',
      )}; to draw anything, pull a Stable Diffusion ONNX export (npx imagegen models pull onnxruntime/sd-turbo) and set MODEL_DIR on the workers to it`,
  };
}
