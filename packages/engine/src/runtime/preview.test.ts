import { describe, expect, it } from 'vitest';

import { poolLatents } from './preview.js';

describe('latent pooling for low-resolution preview decodes', () => {
  it('area-averages by the factor, edge cells averaging what they cover', () => {
    // One channel, 3×3: pooled by 2 into 2×2 (the last row and column form partial cells).
    const latents = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const pooled = poolLatents(latents, { c: 1, h: 3, w: 3 }, 2);
    expect([pooled.h, pooled.w]).toEqual([2, 2]);
    expect(Array.from(pooled.data)).toEqual([3, 4.5, 7.5, 9]);
  });

  it('pools each channel separately and leaves factor 1 alone', () => {
    const latents = Float32Array.from([1, 1, 1, 1, 10, 20, 30, 40]);
    expect(Array.from(poolLatents(latents, { c: 2, h: 2, w: 2 }, 2).data)).toEqual([1, 25]);
    expect(poolLatents(latents, { c: 2, h: 2, w: 2 }, 1).data).toBe(latents);
  });
});
