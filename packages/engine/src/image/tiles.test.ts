import { describe, expect, it } from 'vitest';

import { planTiles } from './tiles.js';

function coverage(width: number, height: number, tiles: ReturnType<typeof planTiles>): Uint8Array {
  const seen = new Uint8Array(width * height);
  for (const t of tiles) {
    for (let y = t.y; y < t.y + t.h; y++) for (let x = t.x; x < t.x + t.w; x++) seen[y * width + x]!++;
  }
  return seen;
}

describe('super-resolution tiling', () => {
  it('covers every pixel exactly once, with context clamped to the image', () => {
    const tiles = planTiles(300, 130, 64, 10, null);
    expect(coverage(300, 130, tiles).every((c) => c === 1)).toBe(true);
    for (const t of tiles) {
      expect(t.wx).toBeGreaterThanOrEqual(0);
      expect(t.wy).toBeGreaterThanOrEqual(0);
      expect(t.wx + t.ww).toBeLessThanOrEqual(300);
      expect(t.wy + t.wh).toBeLessThanOrEqual(130);
      expect(t.wx).toBeLessThanOrEqual(t.x);
      expect(t.wx + t.ww).toBeGreaterThanOrEqual(t.x + t.w);
    }
    expect(tiles.find((t) => t.x === 64 && t.y === 64)).toMatchObject({ wx: 54, wy: 54, ww: 84, wh: 76 });
  });

  it('fixed-size models read windows of exactly their input size containing the core', () => {
    const tiles = planTiles(200, 100, 64, 8, { w: 64, h: 64 });
    expect(coverage(200, 100, tiles).every((c) => c === 1)).toBe(true);
    for (const t of tiles) {
      expect([t.ww, t.wh]).toEqual([64, 64]);
      expect(t.wx).toBeLessThanOrEqual(t.x);
      expect(t.wx + t.ww).toBeGreaterThanOrEqual(t.x + t.w);
      expect(t.wy + t.wh).toBeGreaterThanOrEqual(t.y + t.h);
    }
  });

  it('a fixed-size model wider than the image reads from the origin (edges replicated)', () => {
    expect(planTiles(40, 30, 64, 8, { w: 64, h: 64 })[0]).toMatchObject({
      wx: 0,
      wy: 0,
      ww: 64,
      wh: 64,
      w: 40,
      h: 30,
    });
  });
});
