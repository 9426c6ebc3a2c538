import { readModelManifest } from '../model/manifest.js';
import { planResolution } from '../plan.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from '../runtime/options.js';
import { DiffusionPipeline, type LatentShape } from '../runtime/pipeline.js';
import { blockMeans, fitLatentRgbMap, latentRgbR2, type FitSample, type LatentRgbMap } from './latent-rgb.js';

/** Prompts the fit samples from by default: varied colours, subjects and scenes. */
export const FIT_PROMPTS = [
  'a red circle on a white background',
  'a photo of a mountain lake at sunset',
  'a portrait of a woman in a green dress',
  'a dense green forest in fog',
  'a blue sports car on a city street',
  'an abstract painting with bright yellow and purple shapes',
  'a black cat on a white sofa',
  'a bowl of oranges on a wooden table',
  'a snowy landscape under a grey sky',
  'a pink flower in close-up',
];

export interface FitOptions {
  prompts?: readonly string[];
  /** Seeds per prompt. Default 2. */
  seeds?: number;
  /** Denoising steps per generation. Default: the model's. */
  steps?: number;
  runtime?: Partial<RuntimeOptions>;
  /** Called after each generation (for a progress line). */
  onProgress?: (done: number, total: number) => void;
}

export interface FitReport {
  map: LatentRgbMap;
  /** Latents [c, h, w] the map was fitted on (the model's 1:1 generation size). */
  shape: LatentShape;
  samples: number;
  positions: number;
  /** R² per channel on the fitting samples and on held-out ones (every fourth generation). */
  r2: number[];
  heldOutR2: number[];
}

/**
 * Fits a model's latent→RGB preview map: generates each prompt with each seed at the model's 1:1 size,
 * takes the scheduler's clean-latent estimate at about a third, two thirds and the end of the run (what a
 * preview shows), decodes each with the model's VAE, and fits the map by least squares on the mean colour
 * of every latent position's pixel block. Every fourth generation is held out to measure the fit.
 */
export async function fitPreviewMap(modelDir: string, options: FitOptions = {}): Promise<FitReport> {
  const manifest = readModelManifest(modelDir);
  const pipeline = await DiffusionPipeline.open(manifest, { ...DEFAULT_RUNTIME, ...options.runtime });
  try {
    const native = planResolution(manifest, '1:1').native;
    const steps = options.steps ?? manifest.defaults.steps;
    const keep = new Set([
      Math.max(1, Math.round(steps / 3)),
      Math.max(1, Math.round((2 * steps) / 3)),
      steps,
    ]);
    const prompts = options.prompts ?? FIT_PROMPTS;
    const seeds = options.seeds ?? 2;
    const fit: FitSample[] = [];
    const held: FitSample[] = [];
    let shape: LatentShape | null = null;
    let n = 0;
    for (const prompt of prompts) {
      for (let seed = 0; seed < seeds; seed++) {
        const into = n % 4 === 3 ? held : fit;
        const captured: { latents: Float32Array; shape: LatentShape }[] = [];
        await pipeline.generate(
          {
            prompt,
            negativePrompt: '',
            seed,
            steps,
            guidance: manifest.defaults.guidance,
            width: native.width,
            height: native.height,
          },
          {
            onDenoised: (step, _total, denoised, s) => {
              if (keep.has(step)) captured.push({ latents: Float32Array.from(denoised), shape: s });
              return Promise.resolve();
            },
          },
        );
        for (const c of captured) {
          shape = c.shape;
          const rgb = await pipeline.decode(c.latents, c.shape);
          const colours = blockMeans(rgb, { h: c.shape.h, w: c.shape.w, scale: manifest.vaeScaleFactor });
          into.push({ latents: c.latents, colours });
        }
        options.onProgress?.(++n, prompts.length * seeds);
      }
    }
    if (!shape) throw new Error('no samples: give at least one prompt and one seed');
    const result = fitLatentRgbMap(fit, shape);
    return {
      map: result.map,
      shape,
      samples: fit.length,
      positions: result.positions,
      r2: result.r2,
      heldOutR2: held.length > 0 ? latentRgbR2(result.map, held, shape) : [],
    };
  } finally {
    await pipeline.release();
  }
}
