import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

/** The shapes world's palette (packages/tiny-model/eval_prompts.json). */
export const PALETTE = (
  JSON.parse(
    readFileSync(
      fileURLToPath(new URL('../../packages/tiny-model/eval_prompts.json', import.meta.url)),
      'utf8',
    ),
  ) as {
    palette: Record<string, [number, number, number]>;
  }
).palette;
const NAMES = Object.keys(PALETTE);
const COLORS = NAMES.map((n) => PALETTE[n]!);

function nearest(r: number, g: number, b: number): number {
  let best = 0;
  let bestD = Infinity;
  COLORS.forEach(([pr, pg, pb], i) => {
    const d = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2;
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

/**
 * What a shapes-world image shows, by the same rules as packages/tiny-model/groundtruth.py for colour and
 * count: background = the palette colour of most border pixels; foreground = the most frequent palette
 * colour among pixels far from the background; count = 4-connected foreground components larger than
 * 0.3 % of the image and 15 % of the largest.
 */
export async function analyzeShapes(
  image: Buffer,
): Promise<{ background: string; color: string; count: number }> {
  const { data, info } = await sharp(image)
    .removeAlpha()
    .resize({ width: 128, height: 128, fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = info;
  const px = (x: number, y: number) =>
    [data[(y * w + x) * 3]!, data[(y * w + x) * 3 + 1]!, data[(y * w + x) * 3 + 2]!] as const;
  const border = new Array<number>(NAMES.length).fill(0);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x < 2 || y < 2 || x >= w - 2 || y >= h - 2) border[nearest(...px(x, y))]!++;
    }
  }
  const bgIndex = border.indexOf(Math.max(...border));
  const bg = COLORS[bgIndex]!;
  // A colour covering a quarter of the border is background too (an unspecified background can be mottled).
  const borderTotal = border.reduce((a, b) => a + b, 0);
  const alsoBackground = new Set(border.flatMap((n, i) => (n >= 0.25 * borderTotal ? [i] : [])));
  const fgVotes = new Array<number>(NAMES.length).fill(0);
  const far = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = px(x, y);
      const i = nearest(r, g, b);
      if (!alsoBackground.has(i) && Math.hypot(r - bg[0], g - bg[1], b - bg[2]) > 48) {
        fgVotes[i]!++;
        far[y * w + x] = 1;
      }
    }
  }
  const fgIndex = fgVotes.indexOf(Math.max(...fgVotes));
  const sizes: number[] = [];
  const seen = new Uint8Array(w * h);
  for (let start = 0; start < w * h; start++) {
    if (!far[start] || seen[start]) continue;
    let size = 0;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      size++;
      const x = p % w;
      const y = (p - x) / w;
      for (const q of [
        x > 0 ? p - 1 : -1,
        x < w - 1 ? p + 1 : -1,
        y > 0 ? p - w : -1,
        y < h - 1 ? p + w : -1,
      ]) {
        if (q >= 0 && far[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    sizes.push(size);
  }
  const largest = Math.max(0, ...sizes);
  const count = sizes.filter((s) => s > 0.003 * w * h && s > 0.15 * largest).length;
  return { background: NAMES[bgIndex]!, color: fgVotes[fgIndex]! > 0 ? NAMES[fgIndex]! : 'none', count };
}
