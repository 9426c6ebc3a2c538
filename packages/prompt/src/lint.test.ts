import { describe, expect, it } from 'vitest';

import { analyzePrompt, LINT_CODES, lintPrompt } from '@imagegen/prompt';

const codes = (prompt: string): string[] => lintPrompt(prompt).map((w) => w.code);

describe('lintPrompt', () => {
  it.each([
    'A golden retriever puppy playing in a meadow, soft lighting, photorealistic, 8k',
    'Futuristic cityscape at night, neon lights, cyberpunk style, cinematic composition',
    'Watercolor painting of a lighthouse on rocky coast, pastel colors, impressionist',
    'three colorful hot air balloons over Cappadocia at sunrise',
  ])('has no warnings for the vendor-style good prompt %s', (prompt) => {
    expect(lintPrompt(prompt)).toEqual([]);
  });

  it.each([
    ['vague_description', 'a nice image of a dog in a park with trees'],
    ['vague_description', 'good looking house on a hill with a garden'],
    ['conflicting_styles', 'photorealistic watercolor portrait of a woman in a garden'],
    ['conflicting_styles', 'anime oil painting and 3d render of a castle in the mountains'],
    ['too_many_subjects', 'a cat, a dog, a horse, a cow and a pig standing in a barn'],
    ['negative_instruction', 'a city street at night with neon signs, no cars'],
    ['negative_instruction', 'a quiet beach at sunrise without people, soft light'],
    ['negative_instruction', "a shop window display, don't show any text on the sign"],
    ['too_short', 'tabby cat'],
    ['too_long', `a lighthouse on a rocky coast, ${'stormy waves, '.repeat(40)}`],
  ])('warns %s for %s', (code, prompt) => {
    expect(codes(prompt)).toContain(code);
  });

  it('does not flag compatible styles or a single realistic watercolor', () => {
    expect(codes('watercolor and ink sketch of a heron by a river, soft light')).not.toContain(
      'conflicting_styles',
    );
    expect(codes('realistic watercolor of a heron standing in a river at dawn')).not.toContain(
      'conflicting_styles',
    );
  });

  it('gives machine codes from LINT_CODES and messages that say what to change', () => {
    const warnings = lintPrompt('nice image, no cars');
    for (const w of warnings) {
      expect(LINT_CODES).toContain(w.code);
      expect(w.message.length).toBeGreaterThan(20);
    }
    expect(warnings.find((w) => w.code === 'negative_instruction')?.message).toContain(
      'describe what should be',
    );
  });

  it('accepts a precomputed analysis and gives the same answer', () => {
    const prompt = 'photorealistic watercolor fox, no trees';
    expect(lintPrompt(prompt, analyzePrompt(prompt))).toEqual(lintPrompt(prompt));
  });
});
