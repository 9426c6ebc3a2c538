import { describe, expect, it } from 'vitest';

import { analyzePrompt } from '@imagegen/prompt';

describe('analyzePrompt', () => {
  it('splits the golden retriever example into the template parts', () => {
    const a = analyzePrompt(
      'A golden retriever puppy playing in a meadow, soft lighting, photorealistic, 8k',
    );
    expect(a.subject).toEqual(['golden retriever puppy']);
    expect(a.action).toEqual(['playing']);
    expect(a.setting).toEqual(['in a meadow']);
    expect(a.lighting).toEqual(['soft lighting']);
    expect(a.style).toEqual(['photorealistic']);
    expect(a.technical).toEqual(['8k']);
    expect(a.missing).toEqual(['mood', 'composition']);
  });

  it('keeps original casing and prompt order', () => {
    const a = analyzePrompt(
      'Futuristic cityscape at night, neon lights, cyberpunk style, cinematic composition',
    );
    expect(a.subject).toEqual(['cityscape']);
    expect(a.style).toEqual(['Futuristic', 'cyberpunk style']);
    expect(a.lighting).toEqual(['at night', 'neon lights']);
    expect(a.composition).toEqual(['cinematic composition']);
  });

  it('recognises art styles, settings and subjects in the watercolor example', () => {
    const a = analyzePrompt(
      'Watercolor painting of a lighthouse on rocky coast, pastel colors, impressionist',
    );
    expect(a.subject).toEqual(['lighthouse']);
    expect(a.setting).toEqual(['on rocky coast']);
    expect(a.style).toEqual(['Watercolor painting', 'pastel colors', 'impressionist']);
    expect(a.missing).toContain('lighting');
  });

  it('finds the vendor subject examples with their details and quantities', () => {
    expect(analyzePrompt('elderly man with white beard').subject).toEqual(['elderly man with white beard']);
    expect(analyzePrompt('three colorful hot air balloons').subject).toEqual([
      'three colorful hot air balloons',
    ]);
    expect(analyzePrompt('mountain landscape').subject).toEqual(['mountain landscape']);
    expect(analyzePrompt('A red circle').subject).toEqual(['red circle']);
  });

  it('recognises actions with adverbs, settings and style references', () => {
    const a = analyzePrompt('a cat sitting peacefully on a tropical beach at sunset, like Pixar animation');
    expect(a.action).toEqual(['sitting peacefully']);
    expect(a.setting).toEqual(['on a tropical beach']);
    expect(a.lighting).toEqual(['at sunset']);
    expect(a.style).toEqual(['like Pixar animation']);
    expect(analyzePrompt('portrait in the style of Rembrandt').style).toEqual(['in the style of Rembrandt']);
  });

  it('falls back to the opening words for an unknown subject and reports every part missing for ""', () => {
    expect(analyzePrompt('zorblax creature eating').subject).toEqual(['zorblax creature']);
    expect(analyzePrompt('').missing).toHaveLength(8);
  });
});
