import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { EngineError } from '../errors.js';

/**
 * The file, in a model directory, holding the model family's latent→RGB map for live previews. Written by
 * `npm run model:fit-preview`; a model without it gets previews from a low-resolution VAE decode.
 */
export const LATENT_RGB_FILE = 'latent_rgb.json';

/**
 * A fixed linear map from the latent channels at one latent position to the RGB colour (0..1) of the
 * `vaeScaleFactor`² pixels the VAE decodes there: rgb = weights · z + bias, where z are the latents as the
 * UNet sees them (before the decoder's 1/scaling_factor). Fitted once per model family by least squares
 * against VAE decodes.
 */
export interface LatentRgbMap {
  /** Three rows (R, G, B) of `latentChannels` weights. */
  weights: number[][];
  bias: number[];
  latentChannels: number;
}

/** What the JSON file holds (`fit` is informational). */
interface LatentRgbFile {
  format: 'imagegen.latent-rgb';
  version: 1;
  latent_channels: number;
  weights: number[][];
  bias: number[];
  fit?: unknown;
}

const isNumbers = (v: unknown, n: number): v is number[] =>
  Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Parses the map file's JSON; throws `model_incompatible` naming what is wrong. */
export function parseLatentRgbMap(json: unknown, file = LATENT_RGB_FILE): LatentRgbMap {
  const bad = (why: string) => new EngineError('model_incompatible', `${file}: ${why}`, { file });
  if (typeof json !== 'object' || json === null) throw bad('not a JSON object');
  const f = json as Partial<LatentRgbFile>;
  if (f.format !== 'imagegen.latent-rgb' || f.version !== 1) {
    throw bad('format must be "imagegen.latent-rgb", version 1');
  }
  const c = f.latent_channels;
  if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > 64) {
    throw bad('latent_channels must be an integer 1..64');
  }
  const w = f.weights;
  if (!Array.isArray(w) || w.length !== 3 || !w.every((row) => isNumbers(row, c))) {
    throw bad(`weights must be 3 rows of ${c} finite numbers`);
  }
  if (!isNumbers(f.bias, 3)) throw bad('bias must be 3 finite numbers');
  return { weights: w, bias: f.bias, latentChannels: c };
}

/** The model directory's map, or null when it has none. */
export function readLatentRgbMap(modelDir: string): LatentRgbMap | null {
  const path = join(modelDir, LATENT_RGB_FILE);
  if (!existsSync(path)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EngineError('model_incompatible', `${LATENT_RGB_FILE}: ${(e as Error).message}`, {
      file: LATENT_RGB_FILE,
    });
  }
  return parseLatentRgbMap(json);
}

/** The JSON text of a map file, with what the fit measured. */
export function latentRgbFileText(map: LatentRgbMap, fit: Record<string, unknown>): string {
  const file: LatentRgbFile = {
    format: 'imagegen.latent-rgb',
    version: 1,
    latent_channels: map.latentChannels,
    weights: map.weights,
    bias: map.bias,
    fit,
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Latents [c, h, w] (batch 1, planar) → interleaved RGB8 of w×h through the map. */
export function applyLatentRgbMap(
  map: LatentRgbMap,
  latents: Float32Array,
  shape: { c: number; h: number; w: number },
): Uint8Array {
  const { c, h, w } = shape;
  if (c !== map.latentChannels) {
    throw new EngineError(
      'model_incompatible',
      `${LATENT_RGB_FILE}: the map is for ${map.latentChannels} latent channels, the model has ${c}`,
      { file: LATENT_RGB_FILE },
    );
  }
  const plane = h * w;
  const out = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const row = map.weights[ch]!;
      let v = map.bias[ch]!;
      for (let k = 0; k < c; k++) v += row[k]! * latents[k * plane + p]!;
      out[p * 3 + ch] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return out;
}

/**
 * The mean colour (0..1) of each `scale`×`scale` block of a decoded image (interleaved RGB8 of
 * (w·scale)×(h·scale)): the colour a latent position decodes to, as [h·w][3].
 */
export function blockMeans(rgb: Uint8Array, shape: { h: number; w: number; scale: number }): Float64Array {
  const { h, w, scale } = shape;
  const width = w * scale;
  const out = new Float64Array(h * w * 3);
  const n = scale * scale * 255;
  for (let y = 0; y < h * scale; y++) {
    for (let x = 0; x < width; x++) {
      const cell = (Math.floor(y / scale) * w + Math.floor(x / scale)) * 3;
      const px = (y * width + x) * 3;
      for (let ch = 0; ch < 3; ch++) out[cell + ch]! += rgb[px + ch]! / n;
    }
  }
  return out;
}

/** One fitting sample: latents [c, h, w] and the mean decoded colour of each latent position. */
export interface FitSample {
  latents: Float32Array;
  colours: Float64Array;
}

/**
 * Least-squares fit of rgb ≈ W·z + b over every latent position of every sample (normal equations with a
 * tiny ridge, solved by Gaussian elimination with partial pivoting). Returns the map and its R² per
 * channel on the samples.
 */
export function fitLatentRgbMap(
  samples: readonly FitSample[],
  shape: { c: number; h: number; w: number },
): { map: LatentRgbMap; r2: number[]; positions: number } {
  const { c, h, w } = shape;
  const d = c + 1;
  const plane = h * w;
  const xtx = new Float64Array(d * d);
  const xty = new Float64Array(d * 3);
  const x = new Float64Array(d);
  let positions = 0;
  for (const s of samples) {
    for (let p = 0; p < plane; p++) {
      for (let k = 0; k < c; k++) x[k] = s.latents[k * plane + p]!;
      x[c] = 1;
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) xtx[i * d + j]! += x[i]! * x[j]!;
        for (let ch = 0; ch < 3; ch++) xty[i * 3 + ch]! += x[i]! * s.colours[p * 3 + ch]!;
      }
      positions++;
    }
  }
  if (positions <= d) throw new EngineError('invalid_argument', 'too few latent positions to fit a map');
  for (let i = 0; i < c; i++) xtx[i * d + i]! += 1e-6 * positions;
  const beta = solve(xtx, xty, d, 3);
  const weights = [0, 1, 2].map((ch) => Array.from({ length: c }, (_, k) => beta[k * 3 + ch]!));
  const bias = [0, 1, 2].map((ch) => beta[c * 3 + ch]!);
  const map: LatentRgbMap = { weights, bias, latentChannels: c };
  return { map, r2: latentRgbR2(map, samples, shape), positions };
}

/** R² of the map per channel (1 − residual / total sum of squares) on samples: 1 is exact, 0 the mean. */
export function latentRgbR2(
  map: LatentRgbMap,
  samples: readonly FitSample[],
  shape: { c: number; h: number; w: number },
): number[] {
  const { c, h, w } = shape;
  const plane = h * w;
  const { weights, bias } = map;
  const positions = samples.length * plane;
  const sum = [0, 0, 0];
  const sumSq = [0, 0, 0];
  const res = [0, 0, 0];
  for (const s of samples) {
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < 3; ch++) {
        let v = bias[ch]!;
        for (let k = 0; k < c; k++) v += weights[ch]![k]! * s.latents[k * plane + p]!;
        const y = s.colours[p * 3 + ch]!;
        sum[ch]! += y;
        sumSq[ch]! += y * y;
        res[ch]! += (y - v) ** 2;
      }
    }
  }
  return [0, 1, 2].map((ch) => {
    const total = sumSq[ch]! - sum[ch]! ** 2 / positions;
    return total > 0 ? 1 - res[ch]! / total : 0;
  });
}

/** Solves A·X = B for X (A d×d, B d×m, row-major), in place on copies. */
function solve(aIn: Float64Array, bIn: Float64Array, d: number, m: number): Float64Array {
  const a = Float64Array.from(aIn);
  const b = Float64Array.from(bIn);
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) {
      if (Math.abs(a[r * d + col]!) > Math.abs(a[pivot * d + col]!)) pivot = r;
    }
    if (Math.abs(a[pivot * d + col]!) < 1e-12) {
      throw new EngineError(
        'invalid_argument',
        'the fitting samples do not determine a map (singular system)',
      );
    }
    if (pivot !== col) {
      for (let k = 0; k < d; k++) [a[col * d + k], a[pivot * d + k]] = [a[pivot * d + k]!, a[col * d + k]!];
      for (let k = 0; k < m; k++) [b[col * m + k], b[pivot * m + k]] = [b[pivot * m + k]!, b[col * m + k]!];
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = a[r * d + col]! / a[col * d + col]!;
      if (f === 0) continue;
      for (let k = col; k < d; k++) a[r * d + k]! -= f * a[col * d + k]!;
      for (let k = 0; k < m; k++) b[r * m + k]! -= f * b[col * m + k]!;
    }
  }
  for (let r = 0; r < d; r++) for (let k = 0; k < m; k++) b[r * m + k]! /= a[r * d + r]!;
  return b;
}
