import { describe, expect, it } from 'vitest';

import { ASPECT_RATIO_NAMES, ASPECT_RATIOS, planResolution } from './plan.js';

describe('resolution plan', () => {
  it('lists the seven sizes of the public API', () => {
    expect(ASPECT_RATIOS).toEqual({
      '1:1': { width: 1024, height: 1024 },
      '16:9': { width: 1920, height: 1080 },
      '9:16': { width: 1080, height: 1920 },
      '4:3': { width: 1024, height: 768 },
      '3:4': { width: 768, height: 1024 },
      '21:9': { width: 2560, height: 1080 },
      '9:21': { width: 1080, height: 2560 },
    });
  });

  for (const model of [
    { name: 'SD 1.5 (512², ×64)', nativePixels: 512 * 512, pixelMultiple: 64 },
    { name: 'SDXL (1024², ×64)', nativePixels: 1024 * 1024, pixelMultiple: 64 },
    { name: 'tiny (128², ×16)', nativePixels: 128 * 128, pixelMultiple: 16 },
  ]) {
    it(`${model.name}: multiples of the model's grid, near its pixel count, near the aspect`, () => {
      for (const ar of ASPECT_RATIO_NAMES) {
        const { native, target } = planResolution(model, ar);
        expect(native.width % model.pixelMultiple).toBe(0);
        expect(native.height % model.pixelMultiple).toBe(0);
        const area = (native.width * native.height) / model.nativePixels;
        expect(area).toBeGreaterThan(0.7);
        expect(area).toBeLessThan(1.45);
        const aspectError = native.width / native.height / (target.width / target.height);
        expect(Math.abs(Math.log(aspectError))).toBeLessThan(0.1);
      }
    });
  }

  it('keeps SD 1.5 at 512×512 for 1:1 and picks 704×384 for 16:9', () => {
    const sd = { nativePixels: 512 * 512, pixelMultiple: 64 };
    expect(planResolution(sd, '1:1').native).toEqual({ width: 512, height: 512 });
    expect(planResolution(sd, '16:9').native).toEqual({ width: 704, height: 384 });
    expect(planResolution(sd, '9:16').native).toEqual({ width: 384, height: 704 });
  });
});
