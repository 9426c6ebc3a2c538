import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  Engine,
  EngineError,
  fitPreviewMap,
  LATENT_RGB_FILE,
  latentRgbFileText,
  readLatentRgbMap,
  type Preview,
} from '@imagegen/engine';

import { copyModel, TINY_RANDOM } from './fixtures.js';

// The fixture model without an upscaler or safety stage: previews are about the denoising loop.
const options = { safetyModelDir: false, upscalerDir: false } as const;
const input = { prompt: 'a red circle', aspectRatio: '1:1', seed: 5, format: 'png', steps: 8 } as const;

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.load({ modelDir: TINY_RANDOM, ...options });
});
afterAll(async () => {
  await engine.close();
});

async function withPreviews(e: Engine, hooks: { everySteps: number; wanted?: () => boolean }) {
  const previews: Preview[] = [];
  const result = await e.generate(input, {
    previews: { ...hooks, minIntervalMs: 0, onPreview: (p) => previews.push(p) },
  });
  return { result, previews };
}

describe('engine live previews', () => {
  it('hands out a JPEG ≤ 256 px every k steps but the last, before the generation resolves', async () => {
    const { result, previews } = await withPreviews(engine, { everySteps: 3 });
    expect(previews.map((p) => p.step)).toEqual([3, 6]);
    for (const p of previews) {
      expect(p.total).toBe(8);
      expect(p.source).toBe('vae_decode');
      const meta = await sharp(p.jpeg).metadata();
      expect(meta.format).toBe('jpeg');
      expect([meta.width, meta.height]).toEqual([p.width, p.height]);
      expect(Math.max(p.width, p.height)).toBeLessThanOrEqual(256);
    }
    // The fixture generates 128² (16² latents ×8): decoded at the preview bound, 128 px, as it is.
    expect([previews[0]!.width, previews[0]!.height]).toEqual([result.native.width, result.native.height]);
    // Previews never change the image.
    const plain = await engine.generate(input);
    expect(plain.image.equals(result.image)).toBe(true);
  });

  it('makes none while wanted() says false, and resumes when it says true', async () => {
    expect((await withPreviews(engine, { everySteps: 1, wanted: () => false })).previews).toEqual([]);
    // wanted() is read at the start and as each step is reported; it turns true once step 4 is. The thread
    // sees the change a little later (it does not wait for the main thread), so only bounds are certain.
    let reads = 0;
    const previews: Preview[] = [];
    await engine.generate(
      { ...input, steps: 30 },
      {
        previews: {
          everySteps: 1,
          minIntervalMs: 0,
          wanted: () => ++reads > 4,
          onPreview: (p) => previews.push(p),
        },
      },
    );
    expect(previews.length).toBeGreaterThan(0);
    expect(previews[0]!.step).toBeGreaterThanOrEqual(4);
    expect(previews.at(-1)!.step).toBe(29);
  });

  it('keeps at least minIntervalMs between two previews', async () => {
    const previews: Preview[] = [];
    await engine.generate(input, {
      previews: { everySteps: 1, minIntervalMs: 60_000, onPreview: (p) => previews.push(p) },
    });
    expect(previews.map((p) => p.step)).toEqual([1]);
  });

  it('refuses a preview interval that is not a whole number of steps ≥ 1', async () => {
    const bad = engine.generate(input, { previews: { everySteps: 0, onPreview: () => undefined } });
    await expect(bad).rejects.toBeInstanceOf(EngineError);
    await expect(bad).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});

describe('fitted latent→RGB preview map', () => {
  const model = copyModel();
  afterAll(() => model.cleanup());

  it('is fitted from VAE decodes, beats the mean colour on held-out generations, and replaces the decode', async () => {
    const report = await fitPreviewMap(model.dir, {
      prompts: ['a red circle', 'a blue square', 'a green forest', 'a black cat'],
      seeds: 1,
      steps: 4,
      runtime: { intraOpThreads: 1 },
    });
    expect(report.shape).toEqual({ c: 4, h: 16, w: 16 });
    // The fixture's VAE has random weights, so a linear map explains little of it; still it must do better
    // than predicting the mean colour, on the generations it was fitted on and on held-out ones.
    for (const v of [...report.r2, ...report.heldOutR2]) expect(v).toBeGreaterThan(0);
    writeFileSync(join(model.dir, LATENT_RGB_FILE), latentRgbFileText(report.map, {}));
    expect(readLatentRgbMap(model.dir)).toEqual(report.map);

    const mapped = await Engine.load({ modelDir: model.dir, ...options });
    try {
      const { previews, result } = await withPreviews(mapped, { everySteps: 4 });
      expect(previews).toHaveLength(1);
      const p = previews[0]!;
      // One pixel per latent position.
      expect([p.source, p.width, p.height]).toEqual(['latent_rgb', 16, 16]);
      expect((await sharp(p.jpeg).metadata()).format).toBe('jpeg');
      const plain = await engine.generate(input);
      expect(result.image.equals(plain.image)).toBe(true);
    } finally {
      await mapped.close();
    }
  });

  it('refuses a broken map file with model_incompatible (the engine then fails to load the model)', () => {
    writeFileSync(join(model.dir, LATENT_RGB_FILE), '{"format":"imagegen.latent-rgb","version":1}');
    expect(() => readLatentRgbMap(model.dir)).toThrow(
      expect.objectContaining({ code: 'model_incompatible' }) as Error,
    );
  });
});
