/** The seven output sizes of the public API (vendor document), keyed by aspect ratio. */
export const ASPECT_RATIOS = {
  '1:1': { width: 1024, height: 1024 },
  '16:9': { width: 1920, height: 1080 },
  '9:16': { width: 1080, height: 1920 },
  '4:3': { width: 1024, height: 768 },
  '3:4': { width: 768, height: 1024 },
  '21:9': { width: 2560, height: 1080 },
  '9:21': { width: 1080, height: 2560 },
} as const;

export type AspectRatio = keyof typeof ASPECT_RATIOS;
export const ASPECT_RATIO_NAMES = Object.keys(ASPECT_RATIOS) as AspectRatio[];

export function isAspectRatio(value: string): value is AspectRatio {
  return Object.hasOwn(ASPECT_RATIOS, value);
}

export interface Size {
  width: number;
  height: number;
}

export interface ResolutionPlan {
  aspectRatio: AspectRatio;
  /** What the model generates: multiples of the model's pixel multiple, about its native pixel count. */
  native: Size;
  /** What the client receives, exactly. */
  target: Size;
}

/**
 * Picks the generation size for an aspect ratio: among sizes that are multiples of `pixelMultiple`, the
 * one minimising 4·|ln(aspect error)| + |ln(area / nativePixels)| — the shape matters four times more
 * than the pixel count, so the upscale stage stretches by at most a few percent. Deterministic.
 */
export function planResolution(
  model: { nativePixels: number; pixelMultiple: number },
  aspectRatio: AspectRatio,
): ResolutionPlan {
  const target = ASPECT_RATIOS[aspectRatio];
  const aspect = target.width / target.height;
  const m = model.pixelMultiple;
  const n = model.nativePixels;
  let best: Size = { width: m, height: m };
  let bestScore = Infinity;
  const maxSide = Math.ceil(Math.sqrt(n * 4) / m) * m;
  for (let h = m; h <= maxSide; h += m) {
    for (const w of [Math.floor((h * aspect) / m) * m, Math.ceil((h * aspect) / m) * m]) {
      if (w < m) continue;
      const score = 4 * Math.abs(Math.log(w / h / aspect)) + Math.abs(Math.log((w * h) / n));
      if (score < bestScore - 1e-12) {
        bestScore = score;
        best = { width: w, height: h };
      }
    }
  }
  return { aspectRatio, native: best, target: { width: target.width, height: target.height } };
}

/**
 * The factor to super-resolve `from` by on the way to `to`: the smallest available one that reaches the
 * target in both dimensions (the exact resize then only shrinks), else the largest; null when none enlarges
 * the image towards the target.
 */
export function pickScale(scales: readonly number[], from: Size, to: Size): number | null {
  if (scales.length === 0 || from.width >= to.width || from.height >= to.height) return null;
  const sorted = [...scales].sort((a, b) => a - b);
  return sorted.find((s) => from.width * s >= to.width && from.height * s >= to.height) ?? sorted.at(-1)!;
}
