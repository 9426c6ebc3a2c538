import { describe, expect, it } from 'vitest';

import { float16ToFloat32 } from '../tfjs/artifacts.js';
import { float32ToFloat16, float32ToFloat16Bits } from './half.js';

describe('float32 → float16 (round to nearest, ties to even)', () => {
  it('gives every half back unchanged (all 65,536 bit patterns; NaNs stay NaN)', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = float16ToFloat32(h);
      const back = float32ToFloat16Bits(v);
      if (Number.isNaN(v) ? (back & 0x7e00) !== 0x7e00 : back !== h) wrong.push(h.toString(16));
    }
    expect(wrong).toEqual([]);
  });

  it('rounds between neighbours to the nearest, a tie to the even one', () => {
    const ulp1 = 2 ** -10;
    expect(float32ToFloat16Bits(1 + ulp1 / 2)).toBe(0x3c00); // tie → even (1)
    expect(float32ToFloat16Bits(1 + (3 * ulp1) / 2)).toBe(0x3c02); // tie → even (1 + 2 ulp)
    expect(float32ToFloat16Bits(1 + ulp1 * 0.51)).toBe(0x3c01);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
    expect(float32ToFloat16Bits(2 ** -14 * (1 - 2 ** -12))).toBe(0x0400); // up into the smallest normal
  });

  it('subnormals, underflow to ±0, overflow to ±Infinity', () => {
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie → even (0)
    expect(float32ToFloat16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002); // tie → even
    expect(float32ToFloat16Bits(2 ** -30)).toBe(0x0000);
    expect(float32ToFloat16Bits(-(2 ** -30))).toBe(0x8000);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // tie → even (Infinity)
    expect(float32ToFloat16Bits(1e9)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(float32ToFloat16Bits(NaN)).toBe(0x7e00);
  });

  it('converts arrays element by element', () => {
    expect([...float32ToFloat16(Float32Array.of(1, -2, 0.5))]).toEqual([0x3c00, 0xc000, 0x3800]);
  });
});
