import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Engine, EngineError, type GenerateInput, type GenerateResult } from '@imagegen/engine';

import { copyModel, TINY_RANDOM, useVariant } from './fixtures.js';
import { loopingModel } from './looping-unet.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Three requests that differ in everything a batch keeps per request: prompt, negative prompt and seed. */
function trio(base: Omit<GenerateInput, 'prompt' | 'seed'>): GenerateInput[] {
  return [
    { ...base, prompt: 'a red circle', seed: 1 },
    { ...base, prompt: 'a blue star on grey', negativePrompt: 'blurry', seed: 77 },
    { ...base, prompt: '', negativePrompt: 'a green square', seed: 4_000_000_000 },
  ];
}

/** Generates the inputs as one batch, then each alone, and expects the same bytes for each. */
async function expectBatchEqualsAlone(engine: Engine, inputs: GenerateInput[]): Promise<GenerateResult[]> {
  const batched = await Promise.all(engine.generateBatch(inputs.map((input) => ({ input }))));
  for (const [k, input] of inputs.entries()) {
    const alone = await engine.generate(input);
    expect({ k, sha: sha(batched[k]!.image) }).toEqual({ k, sha: sha(alone.image) });
  }
  // The requests really differ, so equal bytes are not a batch that copied one image.
  expect(new Set(batched.map((r) => sha(r.image))).size).toBe(inputs.length);
  return batched;
}

describe('micro-batching: each request of a batch gets the bytes of its unbatched run', () => {
  let engine: Engine;
  beforeAll(async () => {
    // The exact resize only: upscaling runs per request after the batch, and its network would only add time.
    engine = await Engine.load({ modelDir: TINY_RANDOM, upscalerDir: false });
  });
  afterAll(async () => {
    await engine.close();
  });

  // Every aspect ratio is checked on the decoded pixels in packages/engine/src/runtime/pipeline.test.ts
  // (encoding megapixel files dominates the time here); these are the files end to end.
  it('square and landscape, with guidance and without (ancestral Euler)', async () => {
    expect(engine.info.scheduler).toBe('EulerAncestralDiscreteScheduler');
    for (const aspectRatio of ['1:1', '4:3'] as const) {
      for (const guidance of [3, 0]) {
        const [a, b] = trio({ aspectRatio, format: 'jpeg', guidance, steps: 3 }).slice(1);
        await expectBatchEqualsAlone(engine, [a!, b!]);
      }
    }
  });

  it('splits entries that cannot share UNet calls into separate batches, each still exact', async () => {
    const inputs: GenerateInput[] = [
      { prompt: 'a cat', aspectRatio: '1:1', seed: 5, format: 'jpeg', steps: 2 },
      { prompt: 'a dog', aspectRatio: '4:3', seed: 6, format: 'jpeg', steps: 2 },
      { prompt: 'a cow', aspectRatio: '1:1', seed: 7, format: 'jpeg', steps: 3 },
      { prompt: 'a fox', aspectRatio: '1:1', seed: 8, format: 'jpeg', steps: 2 },
    ];
    expect(engine.batchKey(inputs[0]!)).toBe(engine.batchKey(inputs[3]!));
    expect(engine.batchKey(inputs[0]!)).not.toBe(engine.batchKey(inputs[1]!));
    expect(engine.batchKey(inputs[0]!)).not.toBe(engine.batchKey(inputs[2]!));
    expect(engine.batchKey(inputs[0]!)).not.toBe(engine.batchKey({ ...inputs[0]!, guidance: 7 }));
    const results = await expectBatchEqualsAlone(engine, inputs);
    expect(results.map((r) => r.steps)).toEqual([2, 2, 3, 2]);
  });

  it('fails a bad entry alone; the rest of its batch completes', async () => {
    const good = trio({ aspectRatio: '3:4', format: 'jpeg', steps: 2 });
    const settled = await Promise.allSettled(
      engine.generateBatch([{ input: good[0]! }, { input: { ...good[1]!, seed: -1 } }, { input: good[2]! }]),
    );
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const bad = settled[1] as PromiseRejectedResult;
    expect(bad.reason).toBeInstanceOf(EngineError);
    expect(bad.reason).toMatchObject({ code: 'invalid_argument' });
    expect(engine.alive).toBe(true);
  });

  it('reports progress and live previews per request (previews only to the request that asked)', async () => {
    const steps: string[][] = [[], []];
    const previews: number[] = [];
    const inputs = trio({ aspectRatio: '1:1', format: 'jpeg', steps: 3 }).slice(0, 2);
    const results = await Promise.all(
      engine.generateBatch(
        inputs.map((input, k) => ({
          input,
          hooks: {
            onStep: (i, n) => steps[k]!.push(`${i}/${n}`),
            ...(k === 0
              ? { previews: { everySteps: 1, minIntervalMs: 0, onPreview: (p) => previews.push(p.step) } }
              : {}),
          },
        })),
      ),
    );
    expect(steps).toEqual([
      ['1/3', '2/3', '3/3'],
      ['1/3', '2/3', '3/3'],
    ]);
    // After every step but the last; a preview never changes the image.
    expect(previews).toEqual([1, 2]);
    expect(sha(results[0]!.image)).toBe(sha((await engine.generate(inputs[0]!)).image));
  });
});

// The SDXL fixture and the bundled model are checked per aspect ratio on their decoded pixels in
// packages/engine/src/runtime/pipeline.test.ts; what follows the decode is the same per request for any model.
describe('micro-batching with other schedulers and model layouts', () => {
  it('keeps a multistep scheduler (PNDM) per request', async () => {
    const model = copyModel();
    const file = join(model.dir, 'scheduler', 'scheduler_config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...config, _class_name: 'PNDMScheduler', skip_prk_steps: true }));
    const engine = await Engine.load({ modelDir: model.dir, upscalerDir: false });
    try {
      expect(engine.info.scheduler).toBe('PNDMScheduler');
      await expectBatchEqualsAlone(
        engine,
        trio({ aspectRatio: '1:1', format: 'jpeg', steps: 5 }).slice(0, 2),
      );
    } finally {
      await engine.close();
      model.cleanup();
    }
  });

  it('evaluates a static-batch UNet export one request at a time, with the same bytes', async () => {
    const model = copyModel();
    useVariant(model.dir, 'unet-static-batch1', 'unet');
    const engine = await Engine.load({ modelDir: model.dir, upscalerDir: false });
    try {
      await expectBatchEqualsAlone(
        engine,
        trio({ aspectRatio: '1:1', format: 'jpeg', steps: 2 }).slice(0, 2),
      );
    } finally {
      await engine.close();
      model.cleanup();
    }
  });
});

describe('canceling one request of a batch', () => {
  it('stops that request at the next step while the others finish with their own bytes', async () => {
    // About 20 ms per UNet run (per batch): the abort sent on step 2's progress reaches the thread within
    // the next step or two, far before step 12.
    const slow = loopingModel(20_000);
    const engine = await Engine.load({ modelDir: slow.dir, upscalerDir: false });
    try {
      const inputs = trio({ aspectRatio: '1:1', format: 'jpeg', steps: 12 });
      const controller = new AbortController();
      const reason = new Error('client cancel');
      const seen: number[][] = [[], [], []];
      const runs = engine.generateBatch(
        inputs.map((input, k) => ({
          input,
          hooks: {
            ...(k === 1 ? { signal: controller.signal } : {}),
            onStep: (i: number) => {
              seen[k]!.push(i);
              if (k === 1 && i === 2) controller.abort(reason);
            },
          },
        })),
      );
      await expect(runs[1]).rejects.toMatchObject({ code: 'canceled', cause: reason });
      const [first, third] = await Promise.all([runs[0]!, runs[2]!]);
      expect(seen[0]).toHaveLength(12);
      expect(seen[2]).toHaveLength(12);
      expect(seen[1]!.length).toBeLessThan(12);
      expect(engine.alive).toBe(true);
      expect(sha(first.image)).toBe(sha((await engine.generate(inputs[0]!)).image));
      expect(sha(third.image)).toBe(sha((await engine.generate(inputs[2]!)).image));
    } finally {
      await engine.close();
      slow.cleanup();
    }
  });
});
