import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { readModelManifest } from '../model/manifest.js';
import { ASPECT_RATIO_NAMES, planResolution } from '../plan.js';
import { DEFAULT_RUNTIME } from './options.js';
import { DiffusionPipeline, type BatchOutcome, type DenoiseRequest } from './pipeline.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const BUNDLED = fileURLToPath(new URL('../../../tiny-model/model/', import.meta.url));

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Runs the requests as one batch; each outcome in request order. */
async function batch(pipeline: DiffusionPipeline, requests: DenoiseRequest[]): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  await pipeline.generateBatch(
    requests.map((request) => ({ request, hooks: {} })),
    (k, o) => (out[k] = o),
  );
  return out;
}

/**
 * The decoded native image of each request of a batch equals its unbatched run's, for every aspect ratio,
 * with guidance and without. Everything after the decode (upscaling, the safety check, encoding) runs per
 * request on these pixels, so equal pixels here mean equal files; test/engine/batching.test.ts checks the
 * files end to end.
 */
describe.each([
  { model: 'the fixture model (ancestral Euler)', dir: join(FIXTURES, 'tiny-random'), size: 3 },
  { model: 'the SDXL fixture (two encoders, pooled rows)', dir: join(FIXTURES, 'tiny-random-xl'), size: 3 },
  // About 20 times the fixture's UNet cost per step: batches of two.
  { model: 'the bundled model (ancestral Euler)', dir: BUNDLED, size: 2 },
])('a batch through $model gives each request its unbatched pixels', ({ dir, size }) => {
  it('for every aspect ratio, with guidance and without', async () => {
    const manifest = readModelManifest(dir);
    const pipeline = await DiffusionPipeline.open(manifest, DEFAULT_RUNTIME);
    try {
      for (const aspectRatio of ASPECT_RATIO_NAMES) {
        const { native } = planResolution(manifest, aspectRatio);
        for (const guidance of [4, 0]) {
          const common = { steps: 2, guidance, width: native.width, height: native.height };
          const requests: DenoiseRequest[] = [
            { ...common, prompt: 'a red circle', negativePrompt: '', seed: 1 },
            { ...common, prompt: 'two blue stars', negativePrompt: 'grey', seed: 2_000_000_000 },
            { ...common, prompt: '', negativePrompt: 'a green square', seed: 42 },
          ].slice(0, size);
          const outcomes = await batch(pipeline, requests);
          const batched = outcomes.map((o) => {
            if (!('result' in o)) throw o.error;
            return sha(o.result.rgb);
          });
          const alone = [];
          for (const r of requests) alone.push(sha((await pipeline.generate(r)).rgb));
          expect({ aspectRatio, guidance, batched }).toEqual({ aspectRatio, guidance, batched: alone });
          expect(new Set(batched).size).toBe(requests.length);
        }
      }
    } finally {
      await pipeline.release();
    }
  });
});

describe('a batch of requests that cannot share UNet calls', () => {
  it('fails every request with invalid_argument and runs nothing', async () => {
    const pipeline = await DiffusionPipeline.open(
      readModelManifest(join(FIXTURES, 'tiny-random')),
      DEFAULT_RUNTIME,
    );
    try {
      const common = { prompt: 'a cat', negativePrompt: '', seed: 1, guidance: 3, width: 128, height: 128 };
      const outcomes = await batch(pipeline, [
        { ...common, steps: 2 },
        { ...common, steps: 3 },
      ]);
      expect(outcomes).toHaveLength(2);
      for (const o of outcomes) expect(o).toMatchObject({ error: { code: 'invalid_argument' } });
    } finally {
      await pipeline.release();
    }
  });
});
