import { ASPECT_RATIOS } from '@imagegen/contracts';

export type AspectRatio = (typeof ASPECT_RATIOS)[number];

/** The vendor's pixel size of each aspect ratio (what a job of that ratio produces). */
export const VENDOR_SIZES: Readonly<Record<AspectRatio, readonly [number, number]>> = {
  '1:1': [1024, 1024],
  '16:9': [1920, 1080],
  '9:16': [1080, 1920],
  '4:3': [1024, 768],
  '3:4': [768, 1024],
  '21:9': [2560, 1080],
  '9:21': [1080, 2560],
};

/**
 * The one of our seven aspect ratios nearest to width:height, by distance of the logarithms of the ratios
 * (so 2:1 and 1:2 are equally far from 1:1). Every vendor size maps to its own ratio.
 */
export function nearestAspectRatio(width: number, height: number): AspectRatio {
  const target = Math.log(width / height);
  let best: AspectRatio = '1:1';
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const ratio of ASPECT_RATIOS) {
    const [w, h] = VENDOR_SIZES[ratio];
    const distance = Math.abs(Math.log(w / h) - target);
    if (distance < bestDistance) {
      best = ratio;
      bestDistance = distance;
    }
  }
  return best;
}
