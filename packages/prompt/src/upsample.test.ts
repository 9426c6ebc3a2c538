import { describe, expect, it } from 'vitest';

import { analyzePrompt, MAX_PROMPT_CHARS, upsamplePrompt } from '@imagegen/prompt';

import { SUBJECT_TABLE_SIZE } from './upsample.js';

const PHOTO_TERMS = /photograph|photography|\b[48]k\b|dslr|bokeh|depth of field|\d+mm\b|lens/i;

describe('upsamplePrompt', () => {
  it('enriches "mountain landscape" like the vendor example, keeping the user words in order', () => {
    const out = upsamplePrompt('mountain landscape', 42);
    expect(out).toMatch(/^(\w+ )?mountain landscape with /);
    const analysis = analyzePrompt(out);
    expect(analysis.lighting.length).toBeGreaterThan(0);
    expect(analysis.technical.length).toBeGreaterThan(0);
    expect(out).toMatch(/photograph/i);
    expect(out).toMatch(/snow-capped peaks|mist drifting|granite ridges/);
  });

  it('is deterministic per (prompt, seed) and varies across seeds', () => {
    expect(upsamplePrompt('mountain landscape', 7)).toBe(upsamplePrompt('mountain landscape', 7));
    const outputs = new Set([1, 2, 3, 4, 5].map((seed) => upsamplePrompt('mountain landscape', seed)));
    expect(outputs.size).toBeGreaterThan(1);
  });

  it('keeps a watercolor prompt painterly: no photography terms at any seed', () => {
    for (let seed = 0; seed < 20; seed++) {
      const out = upsamplePrompt('watercolor painting of a fox', seed);
      expect(out.startsWith('watercolor painting of a fox')).toBe(true);
      expect(out).not.toMatch(PHOTO_TERMS);
      expect(out.length).toBeGreaterThan('watercolor painting of a fox'.length);
    }
  });

  it('leaves a prompt that already has style, lighting, composition and technical details untouched', () => {
    const prompt =
      'Portrait of a violinist on stage, oil painting, dramatic lighting, close-up, highly detailed';
    expect(upsamplePrompt(prompt, 3)).toBe(prompt);
  });

  it('never drops the user text and never exceeds the vendor limit', () => {
    const long = `a harbor at dawn ${'with fishing boats '.repeat(104)}`.slice(0, 1990);
    const out = upsamplePrompt(long, 1);
    expect(out.length).toBeLessThanOrEqual(MAX_PROMPT_CHARS);
    expect(out).toContain(long.trim());
    expect(upsamplePrompt('', 1)).toBe('');
  });

  it('has subject enrichment for at least 30 subjects', () => {
    expect(SUBJECT_TABLE_SIZE).toBeGreaterThanOrEqual(30);
  });
});
