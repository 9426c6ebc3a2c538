import { describe, expect, it } from 'vitest';

import { analyzePrompt, lintPrompt, normalizeForModeration, upsamplePrompt } from '@imagegen/prompt';

const HOSTILE = [
  '',
  ' ',
  '🙂'.repeat(1000),
  'a '.repeat(1000),
  'n.'.repeat(1000),
  '\uD800x'.repeat(1000),
  '\u202e\u200b\u0000\u0007'.repeat(500),
  'playing '.repeat(250),
  'cat with '.repeat(222),
  'a golden retriever puppy playing in a meadow, '.repeat(44),
];

// Speed on these inputs is measured by `npm run bench:prompt`, not asserted here.
describe('every function is total on hostile input', () => {
  it.each(HOSTILE.map((s) => [s.slice(0, 12), s]))('handles %j…', (_label, input) => {
    for (const run of [
      () => analyzePrompt(input),
      () => lintPrompt(input),
      () => upsamplePrompt(input, 7),
      () => normalizeForModeration(input),
    ]) {
      expect(run).not.toThrow();
    }
    expect(upsamplePrompt(input, 1).length).toBeLessThanOrEqual(Math.max(2000, input.length));
  });
});
