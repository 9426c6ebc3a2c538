import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { decodeToRgb, Engine } from '@imagegen/engine';

import { copyModel, FIXTURES, useVariant } from './fixtures.js';

const INPUT = { prompt: 'a red circle', aspectRatio: '1:1', seed: 11, format: 'png', guidance: 3 } as const;

async function render(setup: (dir: string) => void): Promise<Buffer> {
  const model = copyModel();
  try {
    setup(model.dir);
    const engine = await Engine.load({ modelDir: model.dir });
    try {
      return (await engine.generate(INPUT)).image;
    } finally {
      await engine.close();
    }
  } finally {
    model.cleanup();
  }
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
      const image = await render((dir) => useVariant(dir, variant, 'unet'));
      expect(image.length).toBeGreaterThan(0);
    });
  }

  it('an LCM UNet with timestep_cond runs the LCM scheduler and no CFG batch', async () => {
    const image = await render((dir) => {
      useVariant(dir, 'unet-lcm-timestep-cond', 'unet');
      const cfgPath = join(dir, 'scheduler', 'scheduler_config.json');
      const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(cfgPath, JSON.stringify({ ...cfg, _class_name: 'LCMScheduler' }));
    });
    expect(image.length).toBeGreaterThan(0);
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
      expect(image.equals(reference)).toBe(false);
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
