import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import sharp from 'sharp';

import { decodeToRgb, Engine, type GenerateInput } from '@imagegen/engine';

import { copyModel, FIXTURES, useVariant } from './fixtures.js';

const INPUT = { prompt: 'a red circle', aspectRatio: '1:1', seed: 11, format: 'png', guidance: 3 } as const;

/** Renders each input on one engine over a copy of the fixture model that `setup` changed. */
async function renderAll(setup: (dir: string) => void, inputs: GenerateInput[]): Promise<Buffer[]> {
  const model = copyModel();
  try {
    setup(model.dir);
    const engine = await Engine.load({ modelDir: model.dir });
    try {
      const images: Buffer[] = [];
      for (const input of inputs) images.push((await engine.generate(input)).image);
      return images;
    } finally {
      await engine.close();
    }
  } finally {
    model.cleanup();
  }
}

async function render(setup: (dir: string) => void): Promise<Buffer> {
  const [image] = await renderAll(setup, [INPUT]);
  return image!;
}

/** Per-channel standard deviation of the decoded pixels, averaged: 0 for a flat (e.g. all-NaN) image. */
async function contrast(image: Buffer): Promise<number> {
  const stats = await sharp(image).stats();
  return stats.channels.slice(0, 3).reduce((a, c) => a + c.stdev, 0) / 3;
}

function useLcmScheduler(dir: string): void {
  const cfgPath = join(dir, 'scheduler', 'scheduler_config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, _class_name: 'LCMScheduler' }));
}

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([decodeToRgb(a), decodeToRgb(b)]);
  let sum = 0;
  for (let i = 0; i < x.rgb.length; i++) sum += Math.abs(x.rgb[i]! - y.rgb[i]!);
  return sum / x.rgb.length;
}

describe('exporter variants load without configuration', () => {
  let reference: Buffer;
  it('reference: float timestep [B], int64 input_ids, fp32', async () => {
    reference = await render(() => undefined);
    expect(reference.length).toBeGreaterThan(0);
  });

  it('int32 input_ids (diffusers conversion script) give the same image', async () => {
    const image = await render((dir) => useVariant(dir, 'text-encoder-int32', 'text_encoder'));
    expect(image.equals(reference)).toBe(true);
  });

  it('fp16 UNet inputs and outputs give nearly the same image', async () => {
    const image = await render((dir) => useVariant(dir, 'unet-fp16-io', 'unet'));
    expect(await meanAbsDiff(image, reference)).toBeLessThan(2);
  });

  for (const variant of ['unet-int64-timestep', 'unet-scalar-timestep', 'unet-static-batch1']) {
    it(`${variant} runs with classifier-free guidance`, async () => {
      const [guided, guidedNegative, unguided, unguidedNegative] = await renderAll(
        (dir) => useVariant(dir, variant, 'unet'),
        [
          INPUT,
          { ...INPUT, negativePrompt: 'blue' },
          { ...INPUT, guidance: 1 },
          { ...INPUT, guidance: 1, negativePrompt: 'blue' },
        ],
      );
      // Above 1, guidance mixes in an unconditional row conditioned on the negative prompt: both change the
      // pixels. At 1 there is no such row, so the negative prompt changes nothing (only the PNG text chunk).
      expect(await meanAbsDiff(guided!, unguided!)).toBeGreaterThan(0.05);
      expect(await meanAbsDiff(guided!, guidedNegative!)).toBeGreaterThan(0.05);
      expect(await meanAbsDiff(unguided!, unguidedNegative!)).toBe(0);
    });
  }

  it('an LCM UNet with timestep_cond runs the LCM scheduler and no CFG batch', async () => {
    const [lcm, lcmNegative, lcmUnguided] = await renderAll(
      (dir) => {
        useVariant(dir, 'unet-lcm-timestep-cond', 'unet');
        useLcmScheduler(dir);
      },
      [INPUT, { ...INPUT, negativePrompt: 'blue' }, { ...INPUT, guidance: 1 }],
    );
    const [euler] = await renderAll((dir) => useVariant(dir, 'unet-lcm-timestep-cond', 'unet'), [INPUT]);
    // No unconditional batch row even at guidance 3: a negative prompt has nothing to condition, the pixels
    // do not change (the PNG text chunk does).
    expect(await meanAbsDiff(lcm!, lcmNegative!)).toBe(0);
    // Guidance still acts, through the timestep_cond embedding instead.
    expect(await meanAbsDiff(lcm!, lcmUnguided!)).toBeGreaterThan(2);
    // The LCM scheduler, not the model's configured Euler ancestral one, produced it.
    expect(await meanAbsDiff(lcm!, euler!)).toBeGreaterThan(2);
    expect(await contrast(lcm!)).toBeGreaterThan(5);
  });

  for (const scheduler of ['EulerDiscreteScheduler', 'DDIMScheduler', 'PNDMScheduler']) {
    it(`${scheduler} runs from the model's config`, async () => {
      const image = await render((dir) => {
        const cfgPath = join(dir, 'scheduler', 'scheduler_config.json');
        const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
        writeFileSync(
          cfgPath,
          JSON.stringify({ ...cfg, _class_name: scheduler, skip_prk_steps: true, clip_sample: false }),
        );
      });
      const [a, b] = await Promise.all([sharp(image).metadata(), sharp(reference).metadata()]);
      expect([a.format, a.width, a.height]).toEqual([b.format, b.width, b.height]);
      // A different sampler of the same model: a different picture, not a flat or garbage one.
      expect(await meanAbsDiff(image, reference)).toBeGreaterThan(2);
      expect(await contrast(image)).toBeGreaterThan(5);
    });
  }
});

describe('two-encoder (SDXL-style) models', () => {
  const XL = join(FIXTURES, 'tiny-random-xl');

  it('condition on both encoders, pooled embeddings and time ids, with and without guidance', async () => {
    const engine = await Engine.load({ modelDir: XL });
    try {
      expect(engine.info.defaults).toEqual({ steps: 2, guidance: 0 }); // Turbo-style trailing config
      const base = { prompt: 'a red circle', aspectRatio: '16:9', seed: 4, format: 'jpeg' } as const;
      const turbo = await engine.generate(base);
      const guided = await engine.generate({ ...base, guidance: 4 });
      const negative = await engine.generate({ ...base, guidance: 4, negativePrompt: 'blue' });
      expect([turbo.width, turbo.height]).toEqual([1920, 1080]);
      expect(guided.image.equals(turbo.image)).toBe(false);
      expect(negative.image.equals(guided.image)).toBe(false);
    } finally {
      await engine.close();
    }
  });

  it('an SDXL UNet without text_encoder_2 is refused by name', async () => {
    const model = copyModel();
    try {
      cpSync(join(XL, 'unet', 'model.onnx'), join(model.dir, 'unet', 'model.onnx'));
      await expect(Engine.load({ modelDir: model.dir })).rejects.toThrow(
        /^unet\/model\.onnx: an SDXL UNet needs both "text_embeds" and "time_ids" inputs and text_encoder_2\/model\.onnx/,
      );
    } finally {
      model.cleanup();
    }
  });
});
