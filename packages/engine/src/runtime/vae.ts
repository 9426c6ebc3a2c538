import type * as ort from 'onnxruntime-node';

import { EngineError } from '../errors.js';
import type { IoPlan } from '../model/io.js';
import { floatTensor, readFloats } from './tensors.js';

/**
 * Decodes final latents [1, c, h, w] to 8-bit RGB of `width`×`height`: unscales by `scalingFactor`, runs the
 * VAE decoder and maps its [-1, 1] output to [0, 255].
 */
export async function decodeLatents(
  vae: ort.InferenceSession,
  plan: IoPlan['vae'],
  file: string,
  latents: Float32Array,
  scalingFactor: number,
  shape: { c: number; h: number; w: number; width: number; height: number },
): Promise<Uint8Array> {
  const { c, h, w } = shape;
  const size = c * h * w;
  const scaledLatents = new Float32Array(size);
  for (let i = 0; i < size; i++) scaledLatents[i] = latents[i]! / scalingFactor;
  const decoded = await vae.run({ [plan.input]: floatTensor(scaledLatents, plan.inputType, [1, c, h, w]) });
  const pixels = readFloats(decoded[plan.output], file, plan.output);
  return chwToRgb8(pixels, shape.width, shape.height, (x) => x / 2 + 0.5, file);
}

/** Planar float RGB (NCHW, batch 1) → interleaved 8-bit RGB, via `map` then clamp to [0,1] and ×255. */
export function chwToRgb8(
  data: Float32Array,
  width: number,
  height: number,
  map: (x: number) => number,
  file: string,
): Uint8Array {
  const plane = width * height;
  if (data.length !== plane * 3) {
    throw new EngineError(
      'bad_model_output',
      `${file}: expected a 3×${height}×${width} image, got ${data.length} values`,
      { file },
    );
  }
  const out = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const x = Math.min(1, Math.max(0, map(data[ch * plane + p]!)));
      out[p * 3 + ch] = Math.round(x * 255);
    }
  }
  return out;
}
