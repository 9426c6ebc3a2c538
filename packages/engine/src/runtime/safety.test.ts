import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_RUNTIME } from './options.js';
import { SafetyChecker } from './safety.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

/** A solid-colour RGB8 image of w×h. */
function solid(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) out.set(rgb, i * 3);
  return out;
}

describe('generic image classifier (fixture: "nsfw" grows with red − green)', () => {
  let checker: SafetyChecker;
  beforeAll(async () => {
    checker = await SafetyChecker.open(join(FIXTURES, 'safety-generic'), DEFAULT_RUNTIME);
  });
  afterAll(async () => {
    await checker.release();
  });

  it('reads its input size from config.json', () => {
    expect(checker.input).toEqual({ width: 32, height: 32, fit: 'fill', resize: 'lanczos' });
  });

  it('flags a red image and passes a green one, with softmax scores', async () => {
    const red = await checker.check(solid(32, 32, [255, 0, 0]), 2);
    expect(red).toMatchObject({ checked: true, flagged: true, label: 'nsfw', category: 'adult' });
    expect(red.scores['nsfw']).toBeGreaterThan(0.99);
    const green = await checker.check(solid(32, 32, [0, 255, 0]), 2);
    expect(green).toMatchObject({ flagged: false, label: null });
    expect(green.scores['normal']! + green.scores['nsfw']!).toBeCloseTo(1, 6);
  });

  it('is stricter at lower tolerance: a borderline image is blocked at 0 and allowed at 6', async () => {
    // red − green = 0.1 → logit 0.8 → p(nsfw) = 0.69: above thresholds 0..3, below 4..6.
    const borderline = solid(32, 32, [153, 128, 0]);
    const verdicts = [];
    for (let t = 0; t <= 6; t++) verdicts.push((await checker.check(borderline, t)).flagged);
    expect(verdicts).toEqual([true, true, true, true, false, false, false]);
  });
});

describe('Stable Diffusion safety_checker layout', () => {
  it('uses has_nsfw_concepts on a CLIP-normalised 224×224 input', async () => {
    const checker = await SafetyChecker.open(join(FIXTURES, 'safety-sd'), DEFAULT_RUNTIME);
    try {
      expect(checker.input).toEqual({ width: 224, height: 224, fit: 'cover', resize: 'lanczos' });
      expect((await checker.check(solid(224, 224, [255, 0, 0]), 2)).flagged).toBe(true);
      expect((await checker.check(solid(224, 224, [128, 128, 128]), 2)).flagged).toBe(false);
    } finally {
      await checker.release();
    }
  });
});
