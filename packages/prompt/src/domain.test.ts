import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { domainWarning } from './domain.js';

/** The bundled shapes model's whole-word tokens, as a worker registers them. */
const bundled = {
  name: 'model',
  description: 'coloured shapes on plain backgrounds',
  vocabulary: Object.keys(
    JSON.parse(
      readFileSync(new URL('../../tiny-model/model/tokenizer/vocab.json', import.meta.url), 'utf8'),
    ) as Record<string, number>,
  )
    .filter((t) => t.endsWith('</w>') && /^\p{L}{2,}$/u.test(t.slice(0, -4)))
    .map((t) => t.slice(0, -4).toLowerCase()),
};

describe('outside_model_domain', () => {
  it('warns when most of the prompt is outside a closed vocabulary, naming the model and the words', () => {
    const w = domainWarning(
      'A golden retriever puppy playing in a sunny meadow, soft lighting, photorealistic',
      [bundled],
    );
    expect(w?.code).toBe('outside_model_domain');
    expect(w?.message).toContain('model: coloured shapes on plain backgrounds');
    expect(w?.message).toContain('"golden"');
    expect(w?.message).toContain('MODEL_DIR');
  });

  it('stays quiet for prompts the model can draw, plurals included', () => {
    expect(domainWarning('two small blue stars on a white background', [bundled])).toBeNull();
    expect(domainWarning('A red circle', [bundled])).toBeNull();
    // One unknown word among several known ones is not "most of the prompt".
    expect(domainWarning('a shiny red circle in the top left', [bundled])).toBeNull();
  });

  it('stays quiet when a model has an open vocabulary or none registered yet', () => {
    expect(domainWarning('a golden retriever', [])).toBeNull();
    expect(
      domainWarning('a golden retriever', [bundled, { name: 'sd', description: null, vocabulary: null }]),
    ).toBeNull();
  });
});
