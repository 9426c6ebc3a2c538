import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { readModelManifest } from '../model/manifest.js';
import { gaussian } from '../prng.js';
import { DEFAULT_RUNTIME } from './options.js';
import { Upscaler } from './upscaler.js';

const MODEL = fileURLToPath(new URL('../../fixtures/tiny-random/', import.meta.url));

function noiseImage(w: number, h: number): Uint8Array {
  return Uint8Array.from(gaussian(w * h * 3, 3, 0), (v) =>
    Math.max(0, Math.min(255, Math.round(128 + 60 * v))),
  );
}

describe('tiled super-resolution', () => {
  it('produces the same pixels as one whole-image pass (no seams), at 4×', async () => {
    const manifest = readModelManifest(MODEL);
    const tiled = await Upscaler.open(manifest, DEFAULT_RUNTIME);
    const whole = await Upscaler.open(
      { ...manifest, upscaler: { scale: null, tile: 4096, tilePad: 0 } },
      DEFAULT_RUNTIME,
    );
    try {
      expect(tiled!.scale).toBe(4);
      expect(whole!.scale).toBe(4); // measured with a probe input when the config gives none
      const img = noiseImage(150, 70); // 64-px tiles, partial tiles at both edges
      const a = await tiled!.upscale(img, 150, 70);
      const b = await whole!.upscale(img, 150, 70);
      expect(a.length).toBe(150 * 4 * 70 * 4 * 3);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    } finally {
      await tiled!.release();
      await whole!.release();
    }
  });
});
