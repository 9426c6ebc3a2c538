import type * as ort from 'onnxruntime-node';

import type { IoPlan } from '../model/io.js';
import type { ModelManifest } from '../model/manifest.js';
import { applyLatentRgbMap, readLatentRgbMap, type LatentRgbMap } from '../preview/latent-rgb.js';
import { decodeLatents } from './vae.js';

/** How previews are made: the model's fitted latent→RGB map, or the VAE on pooled latents. */
export type PreviewSource = 'latent_rgb' | 'vae_decode';

/** A preview's pixels before encoding: interleaved RGB8. */
export interface PreviewPixels {
  rgb: Uint8Array;
  width: number;
  height: number;
  source: PreviewSource;
}

/**
 * The long side, in pixels, of what the VAE decodes for a preview: latents are area-pooled by the smallest
 * integer factor that keeps the decode within it (a 512² SD model's 64² latents are pooled to 16², a
 * 1/16 of a full decode). The bundled model's latents (at most 14×6) are decoded as they are.
 */
export const PREVIEW_DECODE_MAX_SIDE = 128;

/** Area-averages latents [c, h, w] by `f` (edge cells average what they cover). */
export function poolLatents(
  latents: Float32Array,
  shape: { c: number; h: number; w: number },
  f: number,
): { data: Float32Array; h: number; w: number } {
  const { c, h, w } = shape;
  if (f <= 1) return { data: latents, h, w };
  const ph = Math.ceil(h / f);
  const pw = Math.ceil(w / f);
  const out = new Float32Array(c * ph * pw);
  const count = new Float32Array(ph * pw);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) count[Math.floor(y / f) * pw + Math.floor(x / f)]! += 1;
  }
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const cell = Math.floor(y / f) * pw + Math.floor(x / f);
        out[k * ph * pw + cell]! += latents[k * h * w + y * w + x]! / count[cell]!;
      }
    }
  }
  return { data: out, h: ph, w: pw };
}

/**
 * Makes preview pixels from the scheduler's current estimate of the clean latents, inside the engine's
 * thread. With a fitted map this is a few multiply-adds per latent position; without one it is a VAE
 * decode at low resolution.
 */
export class PreviewMaker {
  /** Set once a pooled decode failed (a VAE exported with fixed spatial sizes): decode at full size. */
  private fullSizeOnly = false;

  private constructor(
    private readonly manifest: ModelManifest,
    private readonly vae: ort.InferenceSession,
    private readonly plan: IoPlan['vae'],
    readonly map: LatentRgbMap | null,
  ) {}

  /** Reads the model's map (a bad map file fails the load, as any bad model file does). */
  static open(manifest: ModelManifest, vae: ort.InferenceSession, plan: IoPlan['vae']): PreviewMaker {
    return new PreviewMaker(manifest, vae, plan, readLatentRgbMap(manifest.dir));
  }

  get source(): PreviewSource {
    return this.map ? 'latent_rgb' : 'vae_decode';
  }

  async make(latents: Float32Array, shape: { c: number; h: number; w: number }): Promise<PreviewPixels> {
    if (this.map) {
      return {
        rgb: applyLatentRgbMap(this.map, latents, shape),
        width: shape.w,
        height: shape.h,
        source: 'latent_rgb',
      };
    }
    const s = this.manifest.vaeScaleFactor;
    const f = this.fullSizeOnly ? 1 : Math.ceil((Math.max(shape.h, shape.w) * s) / PREVIEW_DECODE_MAX_SIDE);
    const pooled = poolLatents(latents, shape, f);
    const decode = (p: { data: Float32Array; h: number; w: number }) =>
      decodeLatents(
        this.vae,
        this.plan,
        this.manifest.files.vaeDecoder,
        p.data,
        this.manifest.scalingFactor,
        {
          c: shape.c,
          h: p.h,
          w: p.w,
          width: p.w * s,
          height: p.h * s,
        },
      );
    let rgb: Uint8Array;
    let used = pooled;
    try {
      rgb = await decode(pooled);
    } catch (e) {
      if (f <= 1) throw e;
      this.fullSizeOnly = true;
      used = { data: latents, h: shape.h, w: shape.w };
      rgb = await decode(used);
    }
    return { rgb, width: used.w * s, height: used.h * s, source: 'vae_decode' };
  }
}
