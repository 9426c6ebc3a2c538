import { describe, expect, it } from 'vitest';

import { fillGaussian, gaussian, philox4x32 } from './prng.js';

describe('Philox4x32-10', () => {
  it('reproduces the Random123 known-answer vectors', () => {
    expect(philox4x32([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    expect(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });
});

describe('seeded Gaussian noise', () => {
  it('is standard normal', () => {
    const x = gaussian(200_000, 42, 0);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.01);
    const tail = x.filter((v) => Math.abs(v) > 1.96).length / x.length;
    expect(tail).toBeGreaterThan(0.045);
    expect(tail).toBeLessThan(0.055);
  });

  it('is a pure function of (seed, stream) and a prefix of longer draws', () => {
    expect(gaussian(1000, 7, 0)).toEqual(gaussian(1000, 7, 0));
    expect(gaussian(1001, 7, 0).subarray(0, 999)).toEqual(gaussian(999, 7, 0));
    expect(gaussian(8, 7, 0)).not.toEqual(gaussian(8, 8, 0));
    expect(gaussian(8, 7, 0)).not.toEqual(gaussian(8, 7, 1));
  });

  it('pins the first values of seed 42 so a change of algorithm cannot go unnoticed', () => {
    const x = Array.from(gaussian(4, 42, 0), (v) => v.toFixed(6));
    const words = philox4x32([0, 0, 0, 0], [42, 0]);
    const a = (words[0] + 0.5) / 2 ** 32;
    const b = (words[1] + 0.5) / 2 ** 32;
    expect(x[0]).toBe(Math.fround(Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b)).toFixed(6));
    expect(x[1]).toBe(Math.fround(Math.sqrt(-2 * Math.log(a)) * Math.sin(2 * Math.PI * b)).toFixed(6));
  });

  it('rejects seeds outside uint32', () => {
    expect(() => fillGaussian(new Float32Array(1), -1, 0)).toThrow(RangeError);
    expect(() => fillGaussian(new Float32Array(1), 2 ** 32, 0)).toThrow(RangeError);
    expect(() => fillGaussian(new Float32Array(1), 1.5, 0)).toThrow(RangeError);
    expect(fillGaussian(new Float32Array(1), 2 ** 32 - 1, 0)[0]).toBeTypeOf('number');
  });
});
