import { describe, expect, it } from 'vitest';

import { float32ToHalf, fromHalfBits, halfToFloat32, toHalfBits } from './float16.js';

describe('float16 conversion', () => {
  it('encodes known values bit-exactly', () => {
    expect(toHalfBits(0)).toBe(0x0000);
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
  });

  it('round-trips every finite half value', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(toHalfBits(fromHalfBits(h))).toBe(h);
    }
  });

  it('converts arrays within half precision', () => {
    const src = new Float32Array([0.1, -3.14159, 1000.5, 14.6146555]);
    const back = halfToFloat32(float32ToHalf(src));
    src.forEach((v, i) => expect(Math.abs(back[i]! - v) / Math.abs(v)).toBeLessThan(2 ** -10));
  });
});
